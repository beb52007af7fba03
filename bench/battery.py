"""The whole battery's cost for one encoder on this device, measured at the real shapes and
multiplied by the protocol's real step counts.

Why: scoring an encoder on every task is what ccbench exists for, and a projection from a few
microbenchmarks says where the hours go (and whether a change to training helps) without running
the battery. Every number comes from the harness's own code on random inputs of the real shapes
(costs do not depend on values):

- image-level heads: seconds per training step (batch 32) and per validation sample (batch 1024)
  of one `train_grid` call (linear at each task's class count, fusion with 2 and 6 frames), for
  1 and 5 grid points and 5 points x 3 seeds, trained as one HeadStack (the harness) and as
  separate modules, one call per seed (the harness before lockstep training, `stack=False`);
- dense heads (U-Net, DeepLabv3+, Siamese U-Net at 224 and at 513 crops): seconds per training
  sample, per validation sample, and per test sample (cached 224 maps upsampled to the full-size
  target, or the encoder on the whole image for crop-trained heads);
- extraction: images/s of `harness.extract.extract` from JPEG bytes (decoding and resizing
  included) for each block set and input size tasks cache, and JPEG decode alone (what the
  encoder-in-the-loop mode pays once); cache read MB/s of `StreamedFeatures` on the stores written.

- cross-task lockstep (`ccbench run`, harness.lockstep): seconds per shared step of
  `train_together` over the image-level tasks still training, for each stage of the run (all of
  them, then without the task whose steps run out first, and so on), with the harness's packing
  on this device. Training then takes the sum over stages of their steps times the stage's cost:
  the longest task's steps, each costing what the tasks running beside it add, instead of every
  task's steps one after another; validation and test are per task as before.

Steps are counted as the harness counts them: 90% of ccbench's train split (`SIZES`, from
docs/PROTOCOL.md section 2.1; the other 10% is validation, scored every epoch), batches of the
task's size with the last partial batch kept, the task's epochs, the grid's points and the seeds.
Dense tasks train in the mode the planner (`harness.costs.estimate`) picks from these rates; an
image set two tasks share is encoded once (as `ccbench run` does). A step's cost is the
difference between the best of three runs of 1 + n steps and of 1 step, over n, so per-run costs
(building the optimiser, the final validation) cancel; n starts at --steps and grows until the n
steps take 0.25 s. Dense shapes, too slow on a CPU for repeats, are timed once. On a shared CPU
the numbers are rough (tens of percent); a GPU run gives the projection that matters. Prints the
tables and writes JSON with the device.

    python bench/battery.py [--steps 3] [--dense-steps 1] [--device cpu|cuda] [--out FILE]
        [--rates FILE]   # reuse an earlier run's per-task rates, measure only the lockstep stages
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from encoders import Preprocessing, ResNet50Trunk, block_shape
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.calibration import REFERENCE, Calibration
from harness.costs import cached_views, estimate, map_bytes, memory_budget
from harness.extract import extract
from harness.grid import GridPoint, resolve_grid
from harness.heads import build_head
from harness.lockstep import TrainJob, pads_by_default, train_together
from harness.prepare import TestSplit
from harness.sources import FullResolutionFeatures, InMemoryFeatures, StreamedFeatures
from harness.targets import FullResolutionTargets, LabelTargets
from harness.train import TrainConfig, train_grid
from tasks import TASKS, TaskSpec
from tasks.readers import DenseReader
from tasks.spec import HEAD_BLOCKS

MAPS_224 = (224, 224)


@dataclass(frozen=True)
class Sizes:
    """A task's samples as ccbench reads them: `train` before the validation carve, `test`, and
    for dense tasks the (H, W) of a full-resolution test image or target. `source` says where the
    numbers come from; "assumed" marks splits no document gives (their share of the total is a
    test pass, at most a few minutes)."""

    train: int
    test: int
    test_size: tuple[int, int] | None = None
    source: str = "PROTOCOL.md 2.1; reader docstring for test"


SIZES: dict[str, Sizes] = {
    "imagenet": Sizes(1_281_167, 50_000),
    "imagenet_v2": Sizes(0, 10_000),
    "pets": Sizes(3_680, 3_669),
    "caltech101": Sizes(3_060, 6_084),
    "cifar100": Sizes(50_000, 10_000),
    "sun397": Sizes(87_003, 21_751),
    "eurosat": Sizes(21_600, 5_400),
    "dtd": Sizes(3_760, 1_880),
    "kinetics": Sizes(50_000, 20_000, source="PROTOCOL.md 2.1; test assumed (Kinetics-400 val is ~20k clips)"),
    "clevr_count": Sizes(70_000, 15_000),
    "thor_num_steps": Sizes(60_000, 10_000, source="PROTOCOL.md 2.1; test assumed"),
    "thor_egomotion": Sizes(60_000, 10_000, source="PROTOCOL.md 2.1; test assumed"),
    "nuscenes_egomotion": Sizes(28_000, 6_000, source="PROTOCOL.md 2.1; test assumed"),
    "cityscapes_seg": Sizes(2_975, 500, (1024, 2048)),
    "pets_seg": Sizes(3_680, 3_669, (375, 500), "PROTOCOL.md 2.1; test size assumed (Pets images vary)"),
    "egohands_seg": Sizes(3_600, 800, (720, 1280)),
    "thor_depth": Sizes(60_000, 10_000, (224, 224), "PROTOCOL.md 2.1; test count and size assumed"),
    "taskonomy_depth": Sizes(39_995, 10_000, (512, 512), "PROTOCOL.md 2.1; test count assumed (user's buildings)"),
    "nyu_depth": Sizes(1_159, 290, (480, 640)),
    "nyu_walkable": Sizes(1_159, 290, (480, 640)),
    "kitti_flow": Sizes(180, 20, (375, 1242)),
}
"""ccbench's splits (train: Table 2's size except where section 2.1 says ccbench uses the original
code's smaller train split: Cityscapes 2,975, EgoHands 3,600, KITTI 180)."""


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(action: Callable[[], object], device: str) -> float:
    """Wall seconds of `action` to the end of its device work."""
    synchronize(device)
    started = time.perf_counter()
    action()
    synchronize(device)
    return time.perf_counter() - started


def per_step(
    prepare: Callable[[int], Callable[[], object]],
    steps: int,
    device: str,
    repeats: int,
    warm_up: bool = True,
    least: float = 0.0,
) -> tuple[float, float]:
    """Seconds per step, and of a 1-step run: the best of `repeats` runs of 1 + n steps minus the
    best of 1-step runs, over n, after a warm-up run; `prepare(count)` builds a run (its heads)
    outside the timer. n starts at `steps` and grows fourfold until the n steps take `least`
    seconds (at most 4096 steps), so cheap shapes are not lost in timer and scheduler noise."""
    if warm_up:
        timed(prepare(1), device)
    short = min(timed(prepare(1), device) for _ in range(repeats))
    while True:
        extra = max(min(timed(prepare(1 + steps), device) for _ in range(repeats)) - short, 0.0)
        if extra >= least or steps >= 4096:
            return extra / steps, short
        steps *= 4


def on_gpu(device: str) -> bool:
    """Dense heads train and score in bfloat16 there, as the harness does."""
    return torch.device(device).type == "cuda"


# ---- image-level heads ---------------------------------------------------------------------------------------------


def pooled_source(rows: int, frames: int, device: str) -> InMemoryFeatures:
    """Random pooled vectors for `rows` samples of `frames` frames each."""
    features = torch.randn(rows * frames, 2048)
    samples = torch.arange(rows * frames).reshape(rows, frames) if frames > 1 else None
    return InMemoryFeatures({"pool": features}, device, samples)


def image_costs(
    task: TaskSpec,
    points: int,
    seeds: int,
    stack: bool,
    steps: int,
    device: str,
    repeats: int = 3,
    val_rows: int = 2048,
) -> dict[str, float]:
    """Seconds per batch-32 step, and per validation sample (batches of 1024), of one `train_grid`
    call training the first `points` points of the paper grid for each of `seeds` seeds (`stack`:
    as one HeadStack, else as separate modules)."""
    source = pooled_source(val_rows, task.frames, device)
    labels = torch.randint(0, task.num_classes, (val_rows,))
    grid = list(resolve_grid("paper", task)[:points]) * seeds
    order = [seed for seed in range(seeds) for _ in range(points)]

    def prepare(count: int, val: int = 1) -> Callable[[], object]:
        heads = [build_head(task.head, task.num_classes, seed, task.frames) for seed in order]
        rows = torch.arange(task.batch_size).repeat(count)
        config = TrainConfig(task.batch_size, 1, task.loss, task.metric, num_classes=task.num_classes)
        return lambda: train_grid(
            heads, grid, source, labels, rows, torch.arange(val), config, device, seeds=order, stack=stack
        )

    step, short = per_step(prepare, steps, device, repeats, least=0.25)
    validation = min(timed(prepare(1, val_rows), device) for _ in range(repeats))
    return {"step": step, "val": max(validation - short, 0.0) / (val_rows - 1)}


def score_seconds(task: TaskSpec, device: str, batch: int = 1024, repeats: int = 3) -> float:
    """Seconds per test sample of one selected head (`TestSplit.score` runs each seed's in one pass)."""
    source = pooled_source(batch, task.frames, device)
    split = TestSplit(source, torch.randint(0, task.num_classes, (batch,)), torch.arange(batch), task.metric)
    head = build_head(task.head, task.num_classes, 0, task.frames).to(device)
    split.score([head])
    return min(timed(lambda: split.score([head]), device) for _ in range(repeats)) / batch


# ---- cross-task lockstep ------------------------------------------------------------------------------------------


def task_steps(task: TaskSpec) -> int:
    """Training steps of one seed's heads over the task's epochs, as the harness counts them."""
    train_rows, _ = train_val(SIZES[task.id].train, task.val_fraction)
    return math.ceil(train_rows / task.batch_size) * task.epochs


def trained_image_tasks(tasks: Sequence[TaskSpec]) -> list[TaskSpec]:
    """The image-level tasks `ccbench run` trains in lockstep, by when their steps run out."""
    return sorted((t for t in tasks if not t.dense and not t.scored_with), key=task_steps)


def lockstep_stages(
    tasks: Sequence[TaskSpec], points: int, seeds: int, steps: int, device: str, repeats: int = 3
) -> list[dict]:
    """Per stage of a run (the tasks still training once the k shortest are done): seconds per
    shared step of `train_together` over them, each task `points` x `seeds` heads, and the step at
    which the stage ends."""
    order = trained_image_tasks(tasks)
    sources = {t.id: pooled_source(t.batch_size, t.frames, device) for t in order}
    stages = []
    for k, last in enumerate(order):
        running = order[k:]

        def prepare(count: int, running: list[TaskSpec] = running) -> Callable[[], object]:
            jobs = []
            for task in running:
                seed_of = [seed for seed in range(seeds) for _ in range(points)]
                jobs.append(
                    TrainJob(
                        task.id,
                        [build_head(task.head, task.num_classes, seed, task.frames) for seed in seed_of],
                        list(resolve_grid("paper", task)[:points]) * seeds,
                        seed_of,
                        sources[task.id],
                        torch.randint(0, task.num_classes, (task.batch_size,)),
                        torch.arange(task.batch_size).repeat(count),
                        torch.arange(1),
                        TrainConfig(task.batch_size, 1, task.loss, task.metric, num_classes=task.num_classes),
                    )
                )
            return lambda: train_together(jobs, device)

        step, _ = per_step(prepare, steps, device, repeats, least=0.25)
        stages.append({"tasks": [t.id for t in running], "until_step": task_steps(last), "step": step})
        print(f"  lockstep {points}x{seeds}, {len(running):>2} tasks: {step * 1e3:8.2f} ms per shared step", flush=True)
    return stages


def lockstep_train_seconds(stages: Sequence[dict]) -> float:
    """Training wall time of the image-level tasks in lockstep: each stage's steps at its cost."""
    done, seconds = 0, 0.0
    for stage in stages:
        seconds += (stage["until_step"] - done) * stage["step"]
        done = stage["until_step"]
    return seconds


# ---- dense heads ---------------------------------------------------------------------------------------------------


def dense_targets(task: TaskSpec, rows: int, size: tuple[int, int]) -> torch.Tensor:
    """Targets of the task's kind at `size`: class maps, positive depth, or flow with valid = 1."""
    if task.metric == "miou":
        return torch.randint(0, task.num_classes, (rows, *size))
    if task.metric == "kitti_fl":
        return torch.cat([torch.randn(rows, 2, *size), torch.ones(rows, 1, *size)], dim=1)
    return torch.rand(rows, *size) + 0.5


def map_source(task: TaskSpec, rows: int, size: tuple[int, int], device: str) -> InMemoryFeatures:
    """Random maps of the task's blocks at `size` for `rows` samples (frames included)."""
    images = rows * task.frames
    blocks = {block: torch.randn(images, *block_shape(block, size)) for block in task.blocks}
    samples = torch.arange(images).reshape(rows, task.frames) if task.frames > 1 else None
    return InMemoryFeatures(blocks, device, samples)


def dense_train_seconds(task: TaskSpec, size: tuple[int, int], batch: int, steps: int, device: str) -> float:
    """Seconds per training sample of one dense head at `size`, in batches of `batch`."""
    source, targets = map_source(task, batch, size, device), LabelTargets(dense_targets(task, batch, size))
    config = TrainConfig(
        batch, 1, task.loss, task.metric, num_classes=task.num_classes, bf16=on_gpu(device), eval_batch_size=batch
    )

    def prepare(count: int) -> Callable[[], object]:
        head = build_head(task.head, task.num_classes, 0, task.frames)
        return lambda: train_grid(
            [head],
            [GridPoint(task.optimizer, task.lr)],
            source,
            targets,
            torch.arange(batch).repeat(count),
            torch.arange(1),
            config,
            device,
        )

    return per_step(prepare, steps, device, repeats=1, warm_up=on_gpu(device))[0] / batch  # a CPU needs none


def dense_eval_seconds(
    task: TaskSpec, size: tuple[int, int], out_size: tuple[int, int], batch: int, device: str
) -> float:
    """Seconds per sample of scoring one dense head on cached maps at `size`, predicting at `out_size`."""
    source, targets = map_source(task, batch, size, device), LabelTargets(dense_targets(task, batch, out_size))
    split = TestSplit(source, targets, torch.arange(batch), task.metric, task.num_classes, batch, on_gpu(device))
    head = build_head(task.head, task.num_classes, 0, task.frames).to(device)
    if on_gpu(device):
        split.score([head])
    return timed(lambda: split.score([head]), device) / batch


class NoiseScene(DenseReader):
    """One random full-resolution image (or frame pair) with a target of the task's kind."""

    SPLITS, LAYOUT = ("test",), "random"

    def __init__(self, task: TaskSpec, size: tuple[int, int]) -> None:
        self.task, self.size, self.root, self.split = task, size, Path("."), "test"
        self.TARGET = {"miou": "classes", "kitti_fl": "flow"}.get(task.metric, "depth")
        self.classes = [str(k) for k in range(task.num_classes)]

    def __len__(self) -> int:
        return self.task.frames

    def image(self, index: int) -> np.ndarray:
        return np.random.default_rng(index).integers(0, 256, (*self.size, 3), dtype=np.uint8)

    def target(self, index: int) -> np.ndarray:
        values = dense_targets(self.task, 1, self.size)[0].numpy()
        return values.transpose(1, 2, 0).copy() if self.TARGET == "flow" else values

    def samples(self) -> np.ndarray:
        return np.arange(self.task.frames).reshape(1, -1)

    def image_ids(self) -> list[str]:
        return [f"noise-{k}" for k in range(len(self))]

    def content_digest(self) -> str:
        return f"noise-{self.size}"


def full_resolution_seconds(task: TaskSpec, trunk: ResNet50Trunk, device: str) -> float:
    """Seconds per test sample of a crop-trained head: the encoder on the whole image, then the head."""
    reader = NoiseScene(task, SIZES[task.id].test_size)
    samples = torch.from_numpy(reader.samples()) if task.frames > 1 else None
    bf16 = on_gpu(device)
    source = FullResolutionFeatures(trunk, reader, Preprocessing(size=reader.size), task.blocks, device, samples, bf16)
    split = TestSplit(source, FullResolutionTargets(reader), torch.arange(1), task.metric, task.num_classes, 1, bf16)
    head = build_head(task.head, task.num_classes, 0, task.frames).to(device)
    if on_gpu(device):
        split.score([head])
    return timed(lambda: split.score([head]), device)


# ---- extraction and reading ----------------------------------------------------------------------------------------


class JpegImages(DenseReader):
    """`count` JPEGs of `size` (H, W), encoded once and decoded by every `image` call, so extraction
    pays decoding as from a dataset (smooth noise: about the entropy of a photo)."""

    SPLITS, LAYOUT, TARGET = ("train",), "random", "depth"

    def __init__(self, count: int, size: tuple[int, int]) -> None:
        self.root, self.split, self.classes = Path("."), "train", ["depth"]
        rng = np.random.default_rng(0)
        self.files = []
        for _ in range(count):
            coarse = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(coarse).resize((size[1], size[0]), Image.BILINEAR).save(buffer, "JPEG", quality=90)
            self.files.append(buffer.getvalue())

    def __len__(self) -> int:
        return len(self.files)

    def image(self, index: int) -> np.ndarray:
        with Image.open(io.BytesIO(self.files[index])) as image:
            return np.asarray(image.convert("RGB"))

    def target(self, index: int) -> np.ndarray:
        raise NotImplementedError("extraction reads images only")

    def image_ids(self) -> list[str]:
        return [f"jpeg-{k}" for k in range(len(self))]

    def content_digest(self) -> str:
        return f"jpeg-{len(self)}"


SOURCE_IMAGE = {224: (375, 500), 513: (720, 1280)}
"""The JPEG each input size is made from: an ImageNet-sized photo for 224, an EgoHands frame for
513 crops (resized, not cropped: within a few percent of a crop's cost)."""


def extraction_rate(
    trunk: ResNet50Trunk,
    blocks: tuple[str, ...],
    size: int,
    images: int,
    batch: int,
    workers: int,
    device: str,
    folder: Path,
) -> tuple[float, dict[str, FeatureStore]]:
    """Images/s of `extract` into fresh stores from JPEGs (a one-batch warm-up first), and the stores."""
    reader, preprocessing = JpegImages(images, SOURCE_IMAGE[size]), Preprocessing(size=(size, size))

    def fresh(count: int, tag: str) -> dict[str, FeatureStore]:
        return {
            block: FeatureStore.open_for_write(
                folder,
                CacheKey.build(tag, reader.manifest_digest, count, preprocessing.key(), block),
                block_shape(block, (size, size)),
                "bench",
            )
            for block in blocks
        }

    warm = JpegImages(batch, SOURCE_IMAGE[size])
    extract(trunk, warm, preprocessing, fresh(batch, "warm"), "bench", batch, device, workers)
    stores = fresh(images, "bench")
    seconds = timed(lambda: extract(trunk, reader, preprocessing, stores, "bench", batch, device, workers), device)
    return images / seconds, stores


def decode_rate(size: int, images: int) -> float:
    """Images/s of decoding and resizing JPEGs alone (one thread)."""
    reader, preprocessing = JpegImages(images, SOURCE_IMAGE[size]), Preprocessing(size=(size, size))
    started = time.perf_counter()
    for index in range(images):
        preprocessing.resize_uint8(reader.image(index))
    return images / (time.perf_counter() - started)


def read_rate(stores: dict[str, FeatureStore], images: int) -> float:
    """MB/s of decoded maps `StreamedFeatures` delivers, batches of 16, nothing else running."""
    source = StreamedFeatures(stores)
    batches = [torch.arange(start, min(start + 16, images)) for start in range(0, images, 16)]
    started = time.perf_counter()
    for _ in source.batches(batches):
        pass
    return source.bytes_read / 1e6 / (time.perf_counter() - started)


# ---- projection ----------------------------------------------------------------------------------------------------


def train_val(samples: int, fraction: float) -> tuple[int, int]:
    """Training and validation samples of a train split (the 10% carve, rounded)."""
    val = max(round(fraction * samples), 1) if samples else 0
    return samples - val, val


def input_size(task: TaskSpec) -> tuple[int, int]:
    return (task.crop_size,) * 2 if task.view == "crop" else task.image_size


def extraction_key(blocks: Sequence[str], size: tuple[int, int]) -> str:
    """Which measured extraction a block set at a size costs as (pool rides on layer4 for free)."""
    maps = "all" if "stem" in blocks else "deeplab" if "layer1" in blocks else "pool"
    return f"{maps}@{size[0]}"


EXTRACTIONS = {
    "pool@224": (HEAD_BLOCKS["linear"], 224),
    "deeplab@224": (HEAD_BLOCKS["deeplabv3plus"], 224),
    "all@224": (HEAD_BLOCKS["unet"], 224),
    "deeplab@513": (HEAD_BLOCKS["deeplabv3plus"], 513),
    "all@513": (HEAD_BLOCKS["unet"], 513),
}


def image_sets(tasks: Sequence[TaskSpec]) -> dict[str, tuple[str, ...]]:
    """Each task that encodes a shared image set -> the union of blocks its sharers read; a task
    whose images another task encodes maps to () (Pets with Pets seg, NYU walkable with NYU depth)."""
    groups: dict[tuple, list[TaskSpec]] = {}
    for task in tasks:
        if task.view == "resize":
            groups.setdefault((task.data_folder, tuple(sorted(task.splits.items())), task.image_size), []).append(task)
        else:
            groups[(task.id,)] = [task]
    owners: dict[str, tuple[str, ...]] = {}
    for members in groups.values():
        union = tuple(sorted({block for task in members for block in task.blocks}))
        owner = max(members, key=lambda task: len(task.blocks))
        for task in members:
            owners[task.id] = union if task is owner else ()
    return owners


@dataclass
class Row:
    """One task's projected seconds per stage."""

    task: str
    shape: str
    work: str
    extract: float
    train: float
    val: float
    test: float
    mode: str = ""

    @property
    def total(self) -> float:
        return self.extract + self.train + self.val + self.test


@dataclass(frozen=True)
class Config:
    """How the image-level heads of a battery run train: `points` grid points x `seeds` seeds, as
    one HeadStack (the harness today) or as separate modules, one `train_grid` call per seed (the
    harness before lockstep training)."""

    points: int
    seeds: int
    stack: bool

    @property
    def name(self) -> str:
        return f"{self.points}x{self.seeds} {'stack' if self.stack else 'modules'}"

    @property
    def measured(self) -> str:
        """The rates key: one call of points x seeds heads, or one of `points` heads run per seed."""
        return f"stack {self.points}x{self.seeds}" if self.stack else f"modules {self.points}x1"


def project_image(task: TaskSpec, rates: dict, config: Config, extract_blocks: tuple[str, ...]) -> Row:
    """An image-level task: training steps and per-epoch validation of its heads, then one test pass
    of each seed's selected head."""
    sizes, shape = SIZES[task.id], shape_key(task)
    measured = rates["image"][shape]
    extract_s = (sizes.train + sizes.test) * task.frames / rates["extract"]["pool@224"] if extract_blocks else 0.0
    test = config.seeds * sizes.test * measured["test"]
    if task.scored_with:
        return Row(task.id, shape, f"test {sizes.test:,}", extract_s, 0.0, 0.0, test)
    train_rows, val_rows = train_val(sizes.train, task.val_fraction)
    steps = math.ceil(train_rows / task.batch_size) * task.epochs
    calls = 1 if config.stack else config.seeds
    train = calls * steps * measured[config.measured]["step"]
    val = calls * task.epochs * val_rows * measured[config.measured]["val"]
    return Row(task.id, shape, f"{calls * steps:,} steps", extract_s, train, val, test)


def project_dense(task: TaskSpec, rates: dict, config: Config, extract_blocks: tuple[str, ...], device: str) -> Row:
    """A dense task: each seed trains its grid's heads in one pass (compute adds per head), in the
    mode the planner picks from these rates."""
    points, seeds = config.points, config.seeds
    sizes, size = SIZES[task.id], input_size(task)
    measured = rates["dense"][task.id]
    train_rows, val_rows = train_val(sizes.train, task.val_fraction)
    scale = (size[0] * size[1]) / (REFERENCE[0] * REFERENCE[1])
    encoder_rate = rates["extract"][extraction_key(task.blocks, size)]
    calibration = Calibration(
        device, encoder_rate * scale, {task.head: scale / (measured["train"] * points)}, rates["read_mb_per_s"]
    )
    views = cached_views(task, sizes.train, size, task.epochs, None) if task.view == "crop" else 1
    plan = estimate(
        task, train_rows, views, size, task.epochs, calibration, None, memory_budget(device), task.view == "crop"
    )
    cached_images = (sizes.train * views + (sizes.test if task.view == "resize" else 0)) * task.frames
    if plan.choice == "cache":
        epoch = plan.cache_epoch_s
        extract_s = cached_images / rates["extract"][extraction_key(extract_blocks, size)] if extract_blocks else 0.0
    else:
        epoch = plan.loop_epoch_s
        extract_s = cached_images / rates["decode"][str(size[0])]
    held = map_bytes(task.blocks, size, sizes.train * views * task.frames) <= memory_budget(device)  # whole split
    mode = ("cache, held" if held else "cache, streamed") if plan.choice == "cache" else "loop"
    train = seeds * task.epochs * epoch
    val = seeds * points * task.epochs * val_rows * measured["val"]
    test = seeds * sizes.test * measured["test"]
    return Row(
        task.id,
        shape_key(task),
        f"{seeds * points * task.epochs * train_rows:,} samples",
        extract_s,
        train,
        val,
        test,
        mode,
    )


def shape_key(task: TaskSpec) -> str:
    if task.dense:
        return f"{task.head}@{input_size(task)[0]}"
    return f"{task.head}x{task.frames}:{task.num_classes}" if task.frames > 1 else f"linear:{task.num_classes}"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.2f}h"


def print_table(rows: list[Row], title: str) -> None:
    print(f"\n{title}")
    stages = " ".join(f"{stage:>8}" for stage in ("extract", "train", "val", "test", "total"))
    header = f"{'task':<19} {'head':<20} {'work':>22} {stages}  mode"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.task:<19} {row.shape:<20} {row.work:>22} {duration(row.extract):>8} {duration(row.train):>8} "
            f"{duration(row.val):>8} {duration(row.test):>8} {duration(row.total):>8}  {row.mode}"
        )
    sums = {stage: sum(getattr(row, stage) for row in rows) for stage in ("extract", "train", "val", "test", "total")}
    print(f"{'all':<19} {'':<20} {'':>22} " + " ".join(f"{duration(value):>8}" for value in sums.values()))


LOCKSTEP_CONFIGS = (Config(1, 1, True), Config(5, 3, True))
"""The configurations whose lockstep stages are measured: the default run, and the paper's grid
with three seeds."""
CONFIGS = (
    Config(1, 1, False),
    Config(1, 1, True),
    Config(5, 1, False),
    Config(5, 1, True),
    Config(5, 3, False),
    Config(5, 3, True),
)


def measure(args: argparse.Namespace, tasks: list[TaskSpec]) -> dict:
    """Every rate the projection needs, on `args.device`."""
    device = args.device
    rates: dict = {"image": {}, "dense": {}, "extract": {}, "decode": {}}
    for task in tasks:
        shape = shape_key(task)
        if task.dense or shape in rates["image"]:
            continue
        entry: dict = {"test": score_seconds(task, device)}
        for config in CONFIGS:
            if config.measured not in entry:
                points, seeds = (config.points, config.seeds) if config.stack else (config.points, 1)
                entry[config.measured] = image_costs(task, points, seeds, config.stack, args.steps, device)
        rates["image"][shape] = entry
        print(
            f"  {shape:<14} step ms: "
            + "  ".join(f"{key} {value['step'] * 1e3:.2f}" for key, value in entry.items() if key != "test"),
            flush=True,
        )
    trunk = ResNet50Trunk().to(device).eval()
    batch, trained = args.dense_batch, {}
    for task in tasks:
        if not task.dense:
            continue
        size, sizes, shape = input_size(task), SIZES[task.id], shape_key(task)
        if shape not in trained:  # class count barely moves a decoder's cost: measured once per head and size
            trained[shape] = {
                "train": dense_train_seconds(task, size, batch, args.dense_steps, device),
                "val": dense_eval_seconds(task, size, size, batch, device),
            }
        entry = {
            **trained[shape],
            "test": full_resolution_seconds(task, trunk, device)
            if task.view == "crop"
            else dense_eval_seconds(task, size, sizes.test_size, 1, device),
        }
        rates["dense"][task.id] = entry
        print(f"  {task.id:<16} s/sample: " + "  ".join(f"{k} {v:.3f}" for k, v in entry.items()), flush=True)
    with tempfile.TemporaryDirectory(dir=args.cache) as folder:
        for name, (blocks, size) in EXTRACTIONS.items():
            images = args.extract_batch * 2
            rate, stores = extraction_rate(
                trunk, blocks, size, images, args.extract_batch, args.workers, device, Path(folder)
            )
            rates["extract"][name] = rate
            if name == "all@224":
                rates["read_mb_per_s"] = read_rate(stores, images)
            print(f"  extract {name:<12} {rate:8.1f} images/s", flush=True)
    for size in SOURCE_IMAGE:
        rates["decode"][str(size)] = decode_rate(size, 32)
    print(
        f"  read {rates['read_mb_per_s']:.0f} MB/s; decode "
        + ", ".join(f"{size}: {rate:.0f} images/s" for size, rate in rates["decode"].items()),
        flush=True,
    )
    return rates


def project(tasks: list[TaskSpec], rates: dict, config: Config, device: str) -> list[Row]:
    owners = image_sets(tasks)
    return [
        project_dense(task, rates, config, owners[task.id], device)
        if task.dense
        else project_image(task, rates, config, owners[task.id])
        for task in tasks
    ]


def print_steps(rates: dict) -> None:
    """Per image-level shape: ms per step of each measured way, and the lockstep ratios."""
    print("\nimage-level heads, ms per batch-32 step (one train_grid call)")
    keys = [config.measured for config in CONFIGS if config.measured != "stack 1x1"]
    keys = ["stack 1x1", *dict.fromkeys(keys)]
    print(f"{'shape':<16}" + "".join(f"{key:>15}" for key in keys) + f"{'15 stack/1':>12}{'5 modules/1':>12}")
    for shape, entry in rates["image"].items():
        steps = [entry[key]["step"] for key in keys]
        ratio = entry["stack 5x3"]["step"] / max(entry["stack 1x1"]["step"], 1e-12)
        modules = entry["modules 5x1"]["step"] / max(entry["modules 1x1"]["step"], 1e-12)
        print(f"{shape:<16}" + "".join(f"{step * 1e3:>15.2f}" for step in steps) + f"{ratio:>12.2f}{modules:>12.2f}")


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        type=int,
        default=20 if cuda else 3,
        help="timed steps per image-level shape, at least (more until they take 0.25 s)",
    )
    parser.add_argument("--dense-steps", type=int, default=5 if cuda else 1, help="timed steps per dense shape")
    parser.add_argument(
        "--dense-batch",
        type=int,
        default=16 if cuda else 2,
        help="dense batch, 2 or more (DeepLabv3+'s image pooling BatchNorm); the protocol's 16 on a "
        "GPU, where batching pays; on a CPU cost is per sample anyway",
    )
    parser.add_argument(
        "--extract-batch",
        type=int,
        default=64 if cuda else 4,
        help="extraction batch (ccbench's --batch-size is 64); two batches are timed",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, max((os.cpu_count() or 1) - 1, 0)),
        help="extraction decode workers (ccbench's --workers default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch intra-op threads; on a CPU other jobs share, 1 keeps each small op from waiting "
        "for a descheduled second thread (milliseconds per op)",
    )
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--cache", type=Path, help="folder on the disk to measure reads on (default: a temp folder)")
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/battery_<device type>.json)")
    parser.add_argument(
        "--rates",
        type=Path,
        help="take the per-task rates from an earlier report of this device (its `rates`) and measure "
        "only the lockstep stages",
    )
    args = parser.parse_args()
    if args.dense_batch < 2:
        parser.error("--dense-batch must be 2 or more: DeepLabv3+'s image pooling batch-normalises over the batch")
    torch.set_num_threads(args.threads)
    args.out = args.out or Path(__file__).parent / "results" / f"battery_{torch.device(args.device).type}.json"
    tasks = list(TASKS.values())
    started = time.perf_counter()
    rates = json.loads(args.rates.read_text())["rates"] if args.rates else measure(args, tasks)
    rates["lockstep"] = {
        config.name: lockstep_stages(tasks, config.points, config.seeds, args.steps, args.device)
        for config in LOCKSTEP_CONFIGS
    }
    projections = {config.name: project(tasks, rates, config, args.device) for config in CONFIGS}
    print_steps(rates)
    for config in (Config(1, 1, True), Config(5, 3, True)):
        print_table(
            projections[config.name],
            f"projected battery on {args.device}: {config.points} grid point(s) x "
            f"{config.seeds} seed(s), image-level heads stacked",
        )
    print("\nwhole battery by configuration (image-level train+val | dense train+val | extraction | total)")
    totals = {}
    for name, rows in projections.items():
        image = sum(row.train + row.val for row in rows if not TASKS[row.task].dense)
        dense = sum(row.train + row.val for row in rows if TASKS[row.task].dense)
        totals[name] = {
            "image_train_val_s": image,
            "dense_train_val_s": dense,
            "extract_s": sum(row.extract for row in rows),
            "battery_s": sum(row.total for row in rows),
        }
        if name in rates["lockstep"]:
            lockstep = lockstep_train_seconds(rates["lockstep"][name])
            image_val = sum(row.val for row in rows if not TASKS[row.task].dense)
            totals[name]["image_lockstep_train_s"] = lockstep
            totals[name]["image_lockstep_train_val_s"] = lockstep + image_val
            totals[name]["battery_lockstep_s"] = totals[name]["battery_s"] - image + lockstep + image_val
        print(
            f"  {name:<14} {duration(image):>8} {duration(dense):>8} {duration(totals[name]['extract_s']):>8} "
            f"{duration(totals[name]['battery_s']):>8}"
            + (
                f"   lockstep: image-level {duration(totals[name]['image_lockstep_train_val_s'])}, "
                f"battery {duration(totals[name]['battery_lockstep_s'])}"
                if name in rates["lockstep"]
                else ""
            )
        )
    report = {
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "device": args.device,
            "lockstep_pads": pads_by_default(args.device),
            "load_average_1_5_15": os.getloadavg(),
            "gpu": torch.cuda.get_device_name() if cuda else None,
        },
        "sizes": {task: asdict(sizes) for task, sizes in SIZES.items()},
        "rates": rates,
        "projections": {
            name: [{**asdict(row), "total": row.total} for row in rows] for name, rows in projections.items()
        },
        "totals": totals,
        "bench_seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({duration(report['bench_seconds'])} of measuring)")


if __name__ == "__main__":
    main()
