"""The battery: every task spec of the protocol, in one place (docs/PROTOCOL.md section 2)."""

from __future__ import annotations

import dataclasses
import difflib
from types import MappingProxyType
from typing import Any

from tasks.errors import UnknownTask
from tasks.readers import (
    DTD,
    IGNORE,
    SUN397,
    Caltech101,
    Cifar100,
    CityscapesSegmentation,
    ClevrCount,
    EgoHandsSegmentation,
    EuroSAT,
    ImageNet,
    ImageNetV2,
    KineticsFrames,
    KittiFlow2015,
    NuScenesEgomotion,
    NyuDepth,
    NyuWalkable,
    OxfordPets,
    OxfordPetsSegmentation,
    Reader,
    TaskonomyDepth,
    ThorDepth,
    ThorDepthNormalized,
    ThorEgomotion,
    ThorNumSteps,
)
from tasks.spec import HEAD_BLOCKS, PROTOCOLS, TaskSpec

PROTOCOL_VERSION = "1"
"""Bumped whenever a change to training, selection or metrics would change any score."""


def _image_task(
    id: str,
    paper_name: str,
    category: str,
    domains: tuple[str, ...],
    data_folder: str,
    reader: type[Reader],
    splits: tuple[str, str],
    num_classes: int,
    epochs: int,
    frames: int = 1,
) -> TaskSpec:
    """An image-level task: pooled features, linear head (fusion for multi-frame samples), CE, top-1."""
    return TaskSpec(
        id=id,
        paper_name=paper_name,
        category=category,
        domains=domains,
        data_folder=data_folder,
        reader=reader,
        splits={"train": splits[0], "test": splits[1]},
        blocks=HEAD_BLOCKS["linear"],
        head="fusion" if frames > 1 else "linear",
        loss="cross_entropy",
        metric="top1",
        num_classes=num_classes,
        epochs=epochs,
        frames=frames,
    )


DENSE_LOSS = {"miou": "pixel_cross_entropy", "neg_l1": "l1", "kitti_fl": "epe"}


def _dense_task(
    id: str,
    paper_name: str,
    category: str,
    domains: tuple[str, ...],
    data_folder: str,
    reader: type[Reader],
    splits: tuple[str, str],
    head: str,
    metric: str,
    outputs: int,
    epochs: int,
    view: str = "resize",
    frames: int = 1,
    crop_scale: tuple[float, float] | None = None,
    crop_flip: bool = False,
    **extra: Any,
) -> TaskSpec:
    """A pixelwise task: feature maps, a decoder head, batch 16 (the original's for pixel heads);
    `extra` sets the spec's class options (positive labels, secondary metrics).
    Crop tasks are at version 2: since then each epoch trains on one of K crops per image (and
    Cityscapes' are rescaled and mirrored), where version 1 trained on one fixed crop."""
    return TaskSpec(
        id=id,
        paper_name=paper_name,
        category=category,
        domains=domains,
        data_folder=data_folder,
        reader=reader,
        splits={"train": splits[0], "test": splits[1]},
        blocks=HEAD_BLOCKS[head],
        head=head,
        loss=DENSE_LOSS[metric],
        metric=metric,
        num_classes=outputs,
        epochs=epochs,
        batch_size=16,
        view=view,
        frames=frames,
        crop_scale=crop_scale,
        crop_flip=crop_flip,
        version=2 if view == "crop" else 1,
        **extra,
    )


OBJECT, INDOOR, DRIVING = ("object",), ("indoor",), ("driving",)
"""The image domains most tasks share (TaskSpec.domains)."""
PETS_POSITIVE = (0, IGNORE)
"""The original code's positive class of Pets segmentation: background and the trimap border (the
reader's class 0 and its ignored border), the pet being negative."""

_SPECS = (
    _image_task(
        "imagenet", "ImageNet Cls.", "semantic-image", OBJECT, "imagenet", ImageNet, ("train", "val"), 1000, 100
    ),
    TaskSpec(
        id="imagenet_v2",
        paper_name="ImageNet v2 Cls.",
        category="semantic-image",
        domains=OBJECT,
        data_folder="imagenetv2-matched-frequency-format-val",
        reader=ImageNetV2,
        splits={"test": "test"},
        blocks=HEAD_BLOCKS["linear"],
        head="linear",
        loss="cross_entropy",
        metric="top1",
        num_classes=1000,
        epochs=100,
        scored_with="imagenet",
    ),
    _image_task(
        "pets", "Pets Cls.", "semantic-image", OBJECT, "oxford-iiit-pet", OxfordPets, ("trainval", "test"), 37, 500
    ),
    _image_task(
        "caltech101", "CalTech Cls.", "semantic-image", OBJECT, "caltech-101", Caltech101, ("train", "test"), 102, 5000
    ),
    _image_task(
        "cifar100",
        "CIFAR-100 Cls.",
        "semantic-image",
        OBJECT,
        "cifar-100-python",
        Cifar100,
        ("train", "test"),
        100,
        100,
    ),
    _image_task(
        "sun397", "SUN Scene Cls.", "semantic-image", ("scene",), "SUN397", SUN397, ("train", "test"), 397, 250
    ),
    _image_task(
        "eurosat", "EuroSAT Cls.", "semantic-image", ("satellite",), "eurosat", EuroSAT, ("train", "test"), 10, 200
    ),
    _image_task("dtd", "dtd Cls.", "semantic-image", ("texture",), "dtd", DTD, ("train", "test"), 47, 100),
    _image_task(
        "kinetics",
        "Kinetics Action Pred.",
        "semantic-image",
        ("video",),
        "kinetics400",
        KineticsFrames,
        ("train", "validate"),
        400,
        100,
        frames=6,
    ),
    _image_task(
        "clevr_count",
        "CLEVR Count",
        "structural-image",
        ("synthetic",),
        "CLEVR_v1.0",
        ClevrCount,
        ("train", "val"),
        8,
        100,
    ),
    _image_task(
        "thor_num_steps",
        "THOR Num. Steps",
        "structural-image",
        INDOOR,
        "thor_num_steps",
        ThorNumSteps,
        ("train", "val"),
        5,
        100,
    ),
    _image_task(
        "thor_egomotion",
        "THOR Egomotion",
        "structural-image",
        INDOOR,
        "thor_action_prediction",
        ThorEgomotion,
        ("train", "val"),
        5,
        100,
        frames=2,
    ),
    _image_task(
        "nuscenes_egomotion",
        "nuScenes Egomotion",
        "structural-image",
        DRIVING,
        "nuScenes",
        NuScenesEgomotion,
        ("train", "test"),
        4,
        100,
        frames=2,
    ),
    _dense_task(
        "cityscapes_seg",
        "Cityscapes Seg.",
        "semantic-pixel",
        DRIVING,
        "cityscapes",
        CityscapesSegmentation,
        ("train", "val"),
        "deeplabv3plus",
        "miou",
        19,
        100,
        view="crop",
        crop_scale=(0.5, 2.0),
        crop_flip=True,
    ),
    _dense_task(
        "pets_seg",
        "Pets Instance Seg.",
        "semantic-pixel",
        OBJECT,
        "oxford-iiit-pet",
        OxfordPetsSegmentation,
        ("trainval", "test"),
        "deeplabv3plus",
        "miou",
        2,
        100,
        positive=PETS_POSITIVE,
        secondary=("positive_iou",),
    ),
    _dense_task(
        "egohands_seg",
        "EgoHands Seg.",
        "semantic-pixel",
        ("egocentric", "video"),
        "egohands",
        EgoHandsSegmentation,
        ("train", "test"),
        "deeplabv3plus",
        "miou",
        5,
        25,
        view="crop",
        secondary=("miou_fg",),
    ),
    _dense_task(
        "thor_depth",
        "THOR Depth",
        "structural-pixel",
        INDOOR,
        "thor_depth_prediction",
        ThorDepth,
        ("train", "test"),
        "unet",
        "neg_l1",
        1,
        50,
    ),
    _dense_task(
        "taskonomy_depth",
        "Taskonomy Depth",
        "structural-pixel",
        INDOOR,
        "taskonomy",
        TaskonomyDepth,
        ("train", "test"),
        "unet",
        "neg_l1",
        1,
        50,
    ),
    _dense_task(
        "nyu_depth",
        "NYU Depth",
        "structural-pixel",
        INDOOR,
        "nyu",
        NyuDepth,
        ("train", "test"),
        "unet",
        "neg_l1",
        1,
        250,
    ),
    _dense_task(
        "nyu_walkable",
        "NYU Walkable",
        "structural-pixel",
        INDOOR,
        "nyu",
        NyuWalkable,
        ("train", "test"),
        "deeplabv3plus",
        "miou",
        2,
        100,
        positive=(1,),
        secondary=("positive_iou",),
    ),
    _dense_task(
        "kitti_flow",
        "KITTI Opt. Flow",
        "structural-pixel",
        DRIVING,
        "KITTI",
        KittiFlow2015,
        ("train", "test"),
        "siamese_unet",
        "kitti_fl",
        2,
        250,
        view="crop",
        frames=2,
    ),
)

TASKS: dict[str, TaskSpec] = {spec.id: spec for spec in _SPECS}
if len(TASKS) != len(_SPECS):
    raise RuntimeError("duplicate task id in the battery")

DEFAULT_PROTOCOL = "ccbench"
VIRB_LR = 1e-4
"""The released configurations' learning rate on the twelve tasks of VIRB_LR_TASKS (Table 2: 3e-4)."""
VIRB_LR_TASKS = (
    "imagenet",
    "sun397",
    "cifar100",
    "caltech101",
    "eurosat",
    "nuscenes_egomotion",
    "clevr_count",
    "thor_num_steps",
    "thor_egomotion",
    "nyu_walkable",
    "taskonomy_depth",
    "pets_seg",
)
VIRB_JITTER_VIEWS = 4
"""Cached views of the tasks the original colour-jittered every epoch: view 0 clean, three jittered."""
_VIRB_DEEPLAB = {"head": "deeplabv3plus_virb", "blocks": HEAD_BLOCKS["deeplabv3plus_virb"]}
_VIRB_BINARY = {
    "head": "unet",
    "blocks": HEAD_BLOCKS["unet"],
    "loss": "bce",
    "metric": "positive_iou",
    "num_classes": 1,
    "secondary": ("miou",),
    "views": VIRB_JITTER_VIEWS,
}
VIRB_CHANGES: dict[str, dict[str, Any]] = {
    "caltech101": {"epochs": 500},
    "cityscapes_seg": _VIRB_DEEPLAB,
    "egohands_seg": {
        **_VIRB_DEEPLAB,
        "class_weights": (0.1, 1.0, 1.0, 1.0, 1.0),
        "metric": "miou_fg",
        "secondary": ("miou",),
    },
    "pets_seg": _VIRB_BINARY,
    "nyu_walkable": {**_VIRB_BINARY, "epochs": 250},
    "thor_depth": {"reader": ThorDepthNormalized, "views": VIRB_JITTER_VIEWS},
    "taskonomy_depth": {"views": VIRB_JITTER_VIEWS},
    "nyu_depth": {"views": VIRB_JITTER_VIEWS},
}
"""What the virb protocol changes per task besides VIRB_LR (docs/PROTOCOL.md sections 7 and 8)."""


def _virb(spec: TaskSpec) -> TaskSpec:
    changes = dict(VIRB_CHANGES.get(spec.id, {}))
    if spec.id in VIRB_LR_TASKS:
        changes["lr"] = VIRB_LR
    return dataclasses.replace(spec, protocol="virb", **changes)


BATTERIES: MappingProxyType[str, MappingProxyType[str, TaskSpec]] = MappingProxyType(
    {
        "ccbench": MappingProxyType(TASKS),
        "virb": MappingProxyType({task_id: _virb(spec) for task_id, spec in TASKS.items()}),
    }
)
"""Every protocol's battery: the same tasks in the same order, each a frozen, validated TaskSpec."""


def battery(protocol: str = DEFAULT_PROTOCOL) -> MappingProxyType[str, TaskSpec]:
    """The tasks of `protocol` by id; an unknown protocol names the valid ones."""
    if protocol not in BATTERIES:
        raise UnknownTask(f"unknown protocol {protocol!r}; valid protocols are {', '.join(PROTOCOLS)}")
    return BATTERIES[protocol]


def get_task(task_id: str, protocol: str = DEFAULT_PROTOCOL) -> TaskSpec:
    """The spec of `task_id` under `protocol`; an unknown id suggests the nearest names."""
    tasks = battery(protocol)
    if task_id in tasks:
        return tasks[task_id]
    close = difflib.get_close_matches(task_id, tasks, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known tasks: {', '.join(tasks)}."
    raise UnknownTask(f"unknown task {task_id!r}.{hint}")
