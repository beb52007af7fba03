"""The declarative task spec: every fact about a task lives in one frozen, validated record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tasks.readers.base import DenseReader, FrameReader, Reader

CATEGORIES = ("semantic-image", "structural-image", "semantic-pixel", "structural-pixel")
MAPS = ("layer4", "layer3", "layer2", "layer1", "stem")
HEAD_BLOCKS: dict[str, tuple[str, ...]] = {
    "linear": ("pool",),
    "fusion": ("pool",),
    "unet": MAPS,
    "siamese_unet": MAPS,
    "deeplabv3plus": ("layer4", "layer1"),
    "deeplabv3plus_virb": ("layer3", "layer1"),
}
"""The encoder blocks each head reads (names of encoders.blocks): tasks cache these, and the heads
in harness are built on them."""
HEADS = tuple(HEAD_BLOCKS)
BLOCKS_READ = (*reversed(MAPS), "pool")
"""Every block a head may read, shallow to deep (tests check it against the trunk's block table)."""
DENSE_HEADS = ("unet", "siamese_unet", "deeplabv3plus", "deeplabv3plus_virb")
MULTI_FRAME_HEADS = ("fusion", "siamese_unet")
LOSSES = ("cross_entropy", "pixel_cross_entropy", "bce", "l1", "epe")
METRICS = ("top1", "miou", "miou_fg", "positive_iou", "neg_l1", "kitti_fl")
CLASS_METRICS = ("miou", "miou_fg", "positive_iou")
"""Metrics of class maps, which a binary task may record besides its primary one."""
PROTOCOLS = ("ccbench", "virb")
"""The protocols a battery is defined under (docs/PROTOCOL.md section 8): this project's choices, and
the original code's where they change scores."""
VIEWS = ("resize", "crop")
OPTIMIZERS = ("adam", "sgd")
SPLIT_ROLES = ("train", "test")
DOMAINS = ("object", "scene", "satellite", "texture", "video", "synthetic", "indoor", "driving", "egocentric")
"""Where a task's images come from (docs/PROTOCOL.md section 6 item 5), so encoders pre-trained on data
of the same kind can be told from the others; every result lists each task's domains with its battery."""


def check_choice(value: str, name: str, valid: tuple[str, ...]) -> None:
    """Refuse an enumerated value, listing the valid ones."""
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid values are {', '.join(valid)}")


@dataclass(frozen=True)
class TaskSpec:
    """One end task of the battery (docs/PROTOCOL.md section 2).

    `splits` maps a role (train, test) to the reader's split name; the validation split is carved
    from train by the harness. `frames` > 1 marks multi-frame samples (a FrameReader and the fusion
    head). `scored_with` names another task whose selected head scores this one's test split (no
    training of its own, e.g. ImageNetV2 with the ImageNet head); such a task has only a test split.
    Hyperparameters are Table 2's; `version` enters every result and cache key of the task's
    labels, so a change to a task's definition never mixes with old scores. `domains`: every kind of image
    (DOMAINS) the task's images come from.

    Dense tasks (a DenseReader and a decoder head) say how training images are viewed: "resize"
    squashes each image to `image_size` (one cached view, the test scored on the full-resolution
    target by upsampling the prediction); "crop" takes seeded `crop_size` crops per training image
    (image and target alike; K chosen by the planner within the cache budget, harness.costs),
    each first rescaled by a factor drawn from `crop_scale` and mirrored with probability 1/2
    when `crop_flip`, and runs the encoder once over every full-resolution test image. `views`
    is the number of views of a resized task (1: the clean image). `num_classes` is the head's output channels for regression targets
    (1 for depth, 2 for flow).

    `protocol` names the battery variant the spec belongs to (PROTOCOLS). `class_weights` weight the
    pixel cross-entropy per class (the original's EgoHands weights); `positive` lists the reader's
    labels that make the original code's positive class of a binary task (a BCE target, and the
    positive-class IoU); `secondary` names metrics recorded besides `metric`, read from the same
    predictions (the other protocol's definition).
    """

    id: str
    paper_name: str
    category: str
    data_folder: str
    reader: type[Reader]
    splits: Mapping[str, str]
    blocks: tuple[str, ...]
    head: str
    loss: str
    metric: str
    num_classes: int
    epochs: int
    domains: tuple[str, ...]
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-4
    image_size: tuple[int, int] = (224, 224)
    val_fraction: float = 0.1
    frames: int = 1
    view: str = "resize"
    crop_size: int = 513
    crop_scale: tuple[float, float] | None = None
    crop_flip: bool = False
    views: int = 1
    scored_with: str | None = None
    protocol: str = "ccbench"
    class_weights: tuple[float, ...] | None = None
    positive: tuple[int, ...] = ()
    secondary: tuple[str, ...] = ()
    version: int = 1
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.id.isidentifier():
            raise ValueError(f"task id {self.id!r} must be a Python identifier")
        check_choice(self.category, "category", CATEGORIES)
        check_choice(self.head, "head", HEADS)
        check_choice(self.loss, "loss", LOSSES)
        check_choice(self.metric, "metric", METRICS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.protocol, "protocol", PROTOCOLS)
        self._check_class_options()
        if not isinstance(self.domains, tuple) or not self.domains or len(set(self.domains)) < len(self.domains):
            raise ValueError(f"task {self.id}: domains must be a non-empty tuple without repeats, got {self.domains!r}")
        for domain in self.domains:
            check_choice(domain, "domain", DOMAINS)
        roles = ("test",) if self.scored_with else SPLIT_ROLES
        if tuple(sorted(self.splits)) != tuple(sorted(roles)):
            raise ValueError(f"task {self.id}: splits must name exactly {roles}, got {tuple(self.splits)}")
        check_choice(self.view, "view", VIEWS)
        if (self.head in MULTI_FRAME_HEADS) != (self.frames > 1):
            raise ValueError(
                f"task {self.id}: heads {', '.join(MULTI_FRAME_HEADS)} go with frames > 1 and only "
                f"with it (head {self.head}, frames {self.frames})"
            )
        if (self.head in DENSE_HEADS) != issubclass(self.reader, DenseReader):
            raise ValueError(
                f"task {self.id}: dense heads ({', '.join(DENSE_HEADS)}) go with a DenseReader and "
                f"only with it (head {self.head}, reader {self.reader.__name__})"
            )
        if self.view == "crop" and self.head not in DENSE_HEADS:
            raise ValueError(f"task {self.id}: crop views are for dense heads only")
        if self.frames > 1 and not issubclass(self.reader, FrameReader):
            raise ValueError(f"task {self.id}: frames={self.frames} needs a FrameReader, got {self.reader.__name__}")
        if not self.blocks:
            raise ValueError(f"task {self.id}: needs at least one encoder block")
        for block in self.blocks:
            check_choice(block, "block", BLOCKS_READ)
        positive = {
            "num_classes": self.num_classes,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "frames": self.frames,
            "crop_size": self.crop_size,
            "views": self.views,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"task {self.id}: {name} must be positive, got {value}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"task {self.id}: val_fraction must lie in (0, 1), got {self.val_fraction}")

    def _check_class_options(self) -> None:
        """Class weights, positive labels and secondary metrics only where they mean something."""
        if self.class_weights is not None and (
            len(self.class_weights) != self.num_classes or any(w <= 0 for w in self.class_weights)
        ):
            raise ValueError(f"task {self.id}: class_weights must be {self.num_classes} positive weights")
        if self.class_weights is not None and self.loss != "pixel_cross_entropy":
            raise ValueError(f"task {self.id}: class_weights are for the pixel_cross_entropy loss")
        if self.loss == "bce" and self.num_classes != 1:
            raise ValueError(f"task {self.id}: the bce loss trains one output, got num_classes {self.num_classes}")
        if (self.loss == "bce" or "positive_iou" in (self.metric, *self.secondary)) and not self.positive:
            raise ValueError(f"task {self.id}: bce and positive_iou need the positive labels")
        for name in self.secondary:
            check_choice(name, "secondary metric", CLASS_METRICS)
            if self.metric not in CLASS_METRICS or name == self.metric:
                raise ValueError(f"task {self.id}: secondary metric {name} needs a different class-map primary")

    @property
    def dense(self) -> bool:
        """Whether the head predicts per pixel (and the reader gives per-pixel targets)."""
        return self.head in DENSE_HEADS
