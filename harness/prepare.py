"""Get a task ready to score: fill the feature cache for its splits and hold what training reads
(image-level tasks: pooled features in memory and labels; dense tasks: harness.dense)."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from encoders import EncoderSpec, ResNet50Trunk
from harness.cache import FeatureStore, LabelKey, load_labels, save_labels
from harness.errors import CacheError
from harness.extract import extract
from harness.metrics import Metric
from harness.options import ScoreOptions
from harness.plan import ExtractionJob, plan, task_readers
from harness.progress import progress
from harness.targets import LabelTargets, Targets
from harness.train import FeatureSource, InMemoryFeatures, evaluate_heads, stratified_split
from tasks import TaskSpec
from tasks.readers import FrameReader, Reader

SPLIT_SEED = 0
"""The validation split never changes with the head seed: every seed selects on the same images."""


def run_extraction(trunk: ResNet50Trunk, job: ExtractionJob, options: ScoreOptions) -> float:
    """Fill the job's missing stores; returns seconds spent (0 when everything was cached, also when
    another process finished the stores while this one waited for their locks)."""
    blocks = job.pending_blocks(options.cache_root)
    if not blocks:
        return 0.0
    with ExitStack() as held:
        order = sorted(blocks, key=lambda block: job.keys[block].digest)  # every process locks in one order
        stores = {block: held.enter_context(FeatureStore.open_for_write(
            options.cache_root, job.keys[block], job.item_shape(block), job.image_set)) for block in order}
        if all(store.complete for store in stores.values()):
            return 0.0
        rows = len(set().union(*(store.unit_rows(u) for store in stores.values() for u in store.pending_units())))
        with progress(rows, f"extract {job.image_set} [{', '.join(blocks)}]", options.quiet) as advance:
            stats = extract(trunk, job.reader, job.preprocessing, stores, job.image_set, options.batch_size,
                            options.device, options.workers, advance)
    return stats.seconds


def task_labels(task: TaskSpec, reader: Reader, cache_root: Path) -> torch.Tensor:
    """Labels from the label store, written there from the reader the first time."""
    key = LabelKey(task.id, task.version, reader.manifest_digest)
    labels = load_labels(cache_root, key)
    if labels is None:
        labels = reader.labels()
        save_labels(cache_root, key, labels)
    return torch.from_numpy(labels)


def cached_stores(job: ExtractionJob, blocks: tuple[str, ...], cache_root: Path) -> dict[str, FeatureStore]:
    """The job's complete stores of `blocks` (extraction has just run)."""
    stores = {}
    for block in blocks:
        store = FeatureStore.open_complete(cache_root, job.keys[block])
        if store is None:
            raise CacheError(f"{FeatureStore.path_for(cache_root, job.keys[block])}: store missing or unfinished "
                             "after extraction; was it removed meanwhile? rerun the command")
        stores[block] = store
    return stores


def load_features(job: ExtractionJob, blocks: tuple[str, ...], cache_root: Path, device: str) -> InMemoryFeatures:
    """A split's cached blocks in memory; multi-frame readers index them by sample."""
    arrays = {block: torch.from_numpy(store.read_all()) for block, store in cached_stores(job, blocks, cache_root).items()}
    return InMemoryFeatures(arrays, device, frames_of(job.reader))


def frames_of(reader: Reader) -> torch.Tensor | None:
    """The (S, N) frame indices of a multi-frame reader's samples; None for single-image readers."""
    return torch.from_numpy(reader.samples()) if isinstance(reader, FrameReader) else None


@dataclass
class Prepared:
    """What scoring a task needs, whichever path made it: the training features and targets, the
    train/val rows, a function scoring heads on the whole test split in one pass, and the record
    of what was read (manifests, cache stores) for the result. `config` holds extra TrainConfig
    fields, `hparams` what the result records beyond the protocol's (e.g. the dense mode), and
    `wrap_head` adapts each new head to the task's targets (regression scaling)."""

    train_source: FeatureSource
    train_targets: Targets
    train_rows: torch.Tensor
    val_rows: torch.Tensor
    test_count: int
    score_test: Callable[[list[nn.Module]], list[Metric]]
    manifests: dict[str, str]
    stores: dict[str, str]
    image_size: tuple[int, int]
    extract_seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    wrap_head: Callable[[nn.Module], nn.Module] = lambda head: head


def extract_jobs(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, readers: dict[str, Reader],
                 options: ScoreOptions) -> tuple[dict[str, ExtractionJob], float]:
    """Plan and fill the cache for the given splits; returns their jobs by role and the seconds spent."""
    jobs = plan(encoder, [task], {task.id: readers}, options.image_size)
    by_role = {role: jobs[(task.id, role)] for role in readers}
    return by_role, sum(run_extraction(trunk, job, options) for job in by_role.values())


def store_digests(jobs: dict[str, ExtractionJob], blocks: tuple[str, ...]) -> dict[str, str]:
    return {f"{role}/{block}": job.keys[block].digest for role, job in jobs.items() for block in blocks}


def prepare(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> Prepared:
    """An image-level task: every split's pooled features in memory, labels from the label store."""
    readers = task_readers(task, options.data_root)
    jobs, seconds = extract_jobs(trunk, encoder, task, readers, options)
    features = {role: load_features(job, task.blocks, options.cache_root, options.device) for role, job in jobs.items()}
    labels = {role: task_labels(task, job.reader, options.cache_root) for role, job in jobs.items()}
    train_rows, val_rows = stratified_split(labels["train"], task.val_fraction, SPLIT_SEED) if "train" in labels \
        else (torch.empty(0, dtype=torch.long),) * 2
    test_rows = torch.arange(len(labels["test"]))
    return Prepared(
        train_source=features.get("train"), train_targets=LabelTargets(labels["train"]) if "train" in labels else None,
        train_rows=train_rows, val_rows=val_rows, test_count=len(test_rows),
        score_test=lambda heads: evaluate_heads(heads, features["test"], labels["test"], test_rows, task.metric),
        manifests={role: job.reader.manifest_digest for role, job in jobs.items()},
        stores=store_digests(jobs, task.blocks), image_size=jobs["test"].preprocessing.size, extract_seconds=seconds)
