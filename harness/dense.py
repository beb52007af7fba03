"""The data side of a dense task: training views, their targets, and the features heads read, from
the cache (streamed) or from the encoder in the loop; and scoring at full resolution.

Validation is carved from the training samples before views are made, so every view of an image
stays on the same side; each epoch trains on one view per image (harness.view_schedule) and
validation reads view 0 of each; scoring always compares with the dataset's own full-resolution
targets: a head trained at 224 is upsampled to each target's size, and crop-trained heads see the
whole test image, which goes through the encoder once for all heads.
"""

from __future__ import annotations

import torch

from encoders import EncoderSpec, ResNet50Trunk
from harness.calibration import load_calibration
from harness.costs import Estimate, cached_views, estimate, map_bytes, memory_budget
from harness.heads import ENCODER_INITIALISED
from harness.options import ScoreOptions
from harness.plan import task_preprocessing, task_readers
from harness.prepare import (
    SPLIT_SEED,
    DenseRecord,
    Prepared,
    TestSplit,
    cached_stores,
    extract_jobs,
    frames_of,
    load_features,
    sample_ids,
    split_details,
    store_digests,
)
from harness.progress import progress
from harness.sources import (
    DecodedInputs,
    EncoderFeatures,
    FeatureSource,
    FullResolutionFeatures,
    LoopFeatures,
    StreamedFeatures,
)
from harness.targets import DenseTargets, FullResolutionTargets, dense_targets, sample_count, target_statistics
from harness.train import stratified_split
from harness.view_schedule import ViewSchedule
from tasks.readers import DenseReader
from tasks.spec import TaskSpec
from tasks.views import CropViews, JitteredViews, JitterViews, ViewSet, crop_views

VIEW_SEED = 0
"""Views never change with the head seed: every seed draws from the same views, and the seed
picks which one each epoch trains on (harness.view_schedule)."""


def training_reader(task: TaskSpec, reader: DenseReader, size: tuple[int, int], views: int) -> DenseReader:
    """The split a head trains on: `views` crops of `size` per image for crop tasks (rescaled and
    mirrored as the task says); for resized tasks the reader itself, or with K > 1 views its
    colour-jittered views (view 0 clean)."""
    if task.view == "crop":
        return crop_views(reader, CropViews(size[0], views, VIEW_SEED, task.crop_scale, task.crop_flip))
    return JitteredViews(reader, JitterViews(views, seed=VIEW_SEED)) if views > 1 else reader


def planned_views(task: TaskSpec, samples: int, size: tuple[int, int], options: ScoreOptions) -> int:
    """Views per training image: `--views`, else for crop tasks the most that fit the cache budget
    (`cached_views`), else the task's own."""
    if options.views:
        return options.views
    if task.view != "crop":
        return task.views
    return cached_views(task, samples, size, options.epochs or task.epochs, options.cache_budget)


def bf16_supported(device: str) -> bool:
    return torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported()


def cached_splits(task: TaskSpec, train_reader: DenseReader, test_reader: DenseReader) -> dict[str, DenseReader]:
    """The splits whose features a dense task reads from the cache (or decoded inputs): its training
    views, and the test split when the task is resized (crop tasks encode whole test images)."""
    return {"train": train_reader, **({"test": test_reader} if task.view == "resize" else {})}


def dense_cached_readers(encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> dict[str, DenseReader]:
    """`cached_splits` opened from the data root, as `ccbench extract` fills them."""
    readers = task_readers(task, options.data_root)
    size = task_preprocessing(encoder, task, options.image_size).size
    views = planned_views(task, sample_count(readers["train"]), size, options)
    return cached_splits(task, training_reader(task, readers["train"], size, views), readers["test"])


def plan_task(encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> Estimate:
    """The planner's estimate for a dense task's training split as found under the data root."""
    size = task_preprocessing(encoder, task, options.image_size).size
    samples = sample_count(task_readers(task, options.data_root, roles=("train",))["train"])
    return estimate(
        task,
        samples,
        planned_views(task, samples, size, options),
        size,
        options.epochs or task.epochs,
        load_calibration(options.cache_root, options.device),
        options.cache_budget,
        split_memory(options),
        augment=task.view == "crop" and not options.views,
    )


def split_memory(options: ScoreOptions) -> int:
    """Bytes of one split's maps held in memory rather than streamed (`--memory-budget`, else
    `memory_budget` of the device)."""
    return options.memory_budget if options.memory_budget is not None else memory_budget(options.device)


def choose_mode(encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> str:
    """`--mode` when forced, else the planner's choice from this machine's calibration."""
    return options.mode if options.mode != "auto" else plan_task(encoder, task, options).choice


def stored_targets(task: TaskSpec, reader: DenseReader, size: tuple[int, int], options: ScoreOptions) -> DenseTargets:
    """`dense_targets` of a training view reader, with progress."""
    with progress(sample_count(reader), f"targets {task.id}", options.quiet) as advance:
        return dense_targets(options.cache_root, task.id, task.version, reader, size, advance, task.protocol)


def prepare_dense(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> Prepared:
    """Training views and targets, features by the chosen mode, and full-resolution scoring. Crop
    tasks in the loop draw a fresh crop per image every epoch (K = the epochs, encoded and cut
    from the dataset as each batch is read); otherwise each epoch reads one of K views per image."""
    readers = task_readers(task, options.data_root)
    preprocessing = task_preprocessing(encoder, task, options.image_size)
    size = preprocessing.size
    samples = sample_count(readers["train"])
    mode = choose_mode(encoder, task, options)
    fresh = mode == "loop" and task.view == "crop"
    views = (options.views or options.epochs or task.epochs) if fresh else planned_views(task, samples, size, options)
    train_reader = training_reader(task, readers["train"], size, views)
    test_reader = readers["test"]
    schedule = ViewSchedule(views, samples)
    train_samples, val_samples = stratified_split(torch.zeros(samples, dtype=torch.long), task.val_fraction, SPLIT_SEED)
    kind = train_reader.TARGET
    if fresh:  # targets cut as the crops are; statistics from one crop per image
        targets = FullResolutionTargets(train_reader)
        statistics = stored_targets(task, training_reader(task, readers["train"], size, 1), size, options)
    else:
        targets = statistics = stored_targets(task, train_reader, size, options)
    bf16 = bf16_supported(options.device)
    cached = cached_splits(task, train_reader, test_reader)
    seconds, stores = 0.0, {}
    held: dict[str, bool] = {}
    if mode == "cache":
        jobs, seconds = extract_jobs(trunk, encoder, task, cached, options)
        sources: dict[str, FeatureSource] = {}
        for role, job in jobs.items():
            held[role] = map_bytes(task.blocks, size, len(job.reader)) <= split_memory(options)
            sources[role] = (
                load_features(job, task.blocks, options.cache_root, options.device)
                if held[role]
                else StreamedFeatures(
                    cached_stores(job, task.blocks, options.cache_root), options.device, frames_of(job.reader)
                )
            )
        stores = store_digests(jobs, task.blocks)
    elif fresh:
        sources = {
            "train": EncoderFeatures(
                trunk, train_reader, preprocessing, task.blocks, options.device, frames_of(train_reader), bf16
            )
        }
    else:
        sources = {}
        for role, reader in cached.items():
            with progress(len(reader), f"decode {task.id} {role}", options.quiet) as advance:
                inputs = DecodedInputs(options.cache_root, reader, preprocessing, advance)
            sources[role] = LoopFeatures(trunk, inputs, task.blocks, options.device, frames_of(reader), bf16)
    test_source = sources.get("test") or FullResolutionFeatures(
        trunk, test_reader, preprocessing, task.blocks, options.device, frames_of(test_reader), bf16
    )
    test_rows = torch.arange(sample_count(test_reader))
    return Prepared(
        train_source=sources["train"],
        train_targets=targets,
        train_rows=train_samples,
        val_rows=schedule.fixed(val_samples),
        epoch_rows=schedule.rows,
        test=TestSplit(
            test_source,
            FullResolutionTargets(test_reader),
            test_rows,
            task.metric,
            task.num_classes,
            batch_size=1,
            bf16=bf16,
            ids=sample_ids(test_reader),
            positive=task.positive,
            secondary=task.secondary,
        ),
        manifests={"train": train_reader.manifest_digest, "test": test_reader.manifest_digest},
        stores=stores,
        image_size=size,
        extract_seconds=seconds,
        classes=list(readers["train"].classes),
        split_details=split_details(readers),
        target_scale=target_statistics(statistics, kind) if kind != "classes" else None,
        dense=DenseRecord(
            mode=mode,
            view=task.view,
            views=views,
            sampling=schedule.sampling,
            augmentation=train_reader.parameters() if isinstance(train_reader, ViewSet) else {},
            features={role: "memory" if kept else "stream" for role, kept in held.items()},
        ),
        bf16=bf16,
        eval_batch_size=task.batch_size,
        layer4=encoder_layer4(trunk) if task.head in ENCODER_INITIALISED else None,
    )


def encoder_layer4(trunk: ResNet50Trunk) -> dict[str, torch.Tensor]:
    """A copy of the encoder's layer4 weights, which a virb DeepLabv3+ head starts from and trains
    (the trunk itself stays frozen)."""
    return {name: value.detach().clone() for name, value in trunk.layer4.state_dict().items()}
