"""Get a task ready to score: fill the feature cache for its splits and hold what training reads
(image-level tasks: pooled features in memory and labels; dense tasks: harness.dense)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from encoders import EncoderSpec, ResNet50Trunk
from harness.cache import FeatureStore, LabelKey, load_labels, save_labels
from harness.distributed import barrier, broadcast
from harness.errors import CacheError
from harness.extract import extract, owned_units
from harness.heads import Standardized, build_head
from harness.metrics import Metric
from harness.options import ScoreOptions
from harness.plan import ExtractionJob, plan, task_readers
from harness.progress import progress
from harness.sources import FeatureSource, InMemoryFeatures
from harness.targets import LabelTargets, Targets
from harness.train import evaluate_heads, stratified_split
from tasks import TaskSpec
from tasks.readers import FrameReader, Reader, labels_by_name

SPLIT_SEED = 0
"""The validation split never changes with the head seed: every seed selects on the same images."""


def run_extraction(trunk: ResNet50Trunk, job: ExtractionJob, options: ScoreOptions) -> float:
    """Fill the job's missing stores; returns seconds spent (0 when everything was cached, also when
    another process finished the stores while this one waited for their locks).

    Under torchrun every rank calls this for the same job: rank 0 takes the stores' locks and
    creates or resumes them, each rank then fills the units of its own row groups, and after a
    barrier rank 0 alone marks the stores complete (their attributes have one writer). A rank that
    dies leaves its units unflagged, which the next run, of any world size, computes."""
    world = options.world
    blocks = broadcast(world, job.pending_blocks(options.cache_root) if world.leader else None)
    if not blocks:
        return 0.0
    with ExitStack() as held:
        order = sorted(blocks, key=lambda block: job.keys[block].digest)  # every process locks in one order
        stores = (
            {
                block: held.enter_context(
                    FeatureStore.open_for_write(
                        options.cache_root, job.keys[block], job.item_shape(block), job.image_set
                    )
                )
                for block in order
            }
            if world.leader
            else {}
        )
        barrier(world)
        if not world.leader:
            stores = {
                block: FeatureStore.open_for_rank(options.cache_root, job.keys[block], world.rank) for block in order
            }
        if all(store.complete for store in stores.values()):
            return 0.0
        rows = len(set().union(*(store.unit_rows(u) for store in stores.values() for u in owned_units(store, world))))
        with progress(rows, f"extract {job.image_set} [{', '.join(blocks)}]", options.quiet) as advance:
            stats = extract(
                trunk,
                job.reader,
                job.preprocessing,
                stores,
                job.image_set,
                options.batch_size,
                options.device,
                options.workers,
                advance,
                options.compute,
                options.decode,
                world,
            )
        barrier(world)
        if world.size > 1 and world.leader:
            for store in stores.values():
                store.merge_rank_flags()
                store.mark_complete()
        barrier(world)  # no rank reads the stores before they are marked
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
            raise CacheError(
                f"{FeatureStore.path_for(cache_root, job.keys[block])}: store missing or unfinished "
                "after extraction; was it removed meanwhile? rerun the command"
            )
        stores[block] = store
    return stores


def load_features(job: ExtractionJob, blocks: tuple[str, ...], cache_root: Path, device: str) -> InMemoryFeatures:
    """A split's cached blocks in memory; multi-frame readers index them by sample."""
    arrays = {
        block: torch.from_numpy(store.read_all()) for block, store in cached_stores(job, blocks, cache_root).items()
    }
    return InMemoryFeatures(arrays, device, frames_of(job.reader))


def frames_of(reader: Reader) -> torch.Tensor | None:
    """The (S, N) frame indices of a multi-frame reader's samples; None for single-image readers."""
    return torch.from_numpy(reader.samples()) if isinstance(reader, FrameReader) else None


def sample_ids(reader: Reader) -> list[str]:
    """Each sample's stable name, in sample order: its image id, or for a frame sample its frames' ids
    joined by '+'; what a result's predictions are keyed by, so two results pair sample by sample."""
    ids = reader.image_ids()
    if isinstance(reader, FrameReader):
        return ["+".join(ids[frame] for frame in frames) for frames in reader.samples().tolist()]
    return ids


@dataclass(frozen=True)
class TestSplit:
    """The test split as scored: every sample in one pass of its features, for all heads at once;
    `ids` names the samples of `rows` (sample_ids), for the result's predictions."""

    source: FeatureSource
    targets: Targets | torch.Tensor
    rows: torch.Tensor
    metric: str
    num_classes: int | None = None
    batch_size: int = 1024
    bf16: bool = False
    ids: list[str] = field(default_factory=list)
    positive: tuple[int, ...] = ()
    secondary: tuple[str, ...] = ()

    def score(self, heads: list[nn.Module]) -> list[Metric]:
        return evaluate_heads(
            heads,
            self.source,
            self.targets,
            self.rows,
            self.metric,
            self.num_classes,
            batch_size=self.batch_size,
            bf16=self.bf16,
            positive=self.positive,
            secondary=self.secondary,
        )


@dataclass(frozen=True)
class DenseRecord:
    """How a dense task was trained, for the result's hparams: the feature mode, the training views
    (how many per image, the rule choosing one each epoch, and the parameters they were drawn
    with: crop size, seed, scale range, flip, or jitter strength), and whether each split's maps
    were held in memory or streamed."""

    mode: str
    view: str
    views: int
    sampling: str
    augmentation: dict[str, Any]
    features: dict[str, str]


@dataclass
class Prepared:
    """What scoring a task needs, whichever path made it: the training features, targets and rows,
    the test split, the names of the classes the heads output (recorded in the result, so a task
    scored with these heads maps its labels to them by name), and the record of what was read
    (manifests, cache stores, the splits readers chose). Regression tasks carry their training
    targets' mean and spread (`target_scale`), which every new head predicts in units of; dense
    tasks validate in batches of their own size and, on a GPU, in bfloat16, and pick each epoch's
    rows from their training images with `epoch_rows` (harness.train.train_grid).
    `layer4` holds the encoder's layer4 weights for heads that start from a copy of them (the virb
    DeepLabv3+)."""

    train_source: FeatureSource | None
    train_targets: Targets | None
    train_rows: torch.Tensor
    val_rows: torch.Tensor
    test: TestSplit
    manifests: dict[str, str]
    stores: dict[str, str]
    image_size: tuple[int, int]
    classes: list[str]
    split_details: dict[str, dict[str, Any]]
    extract_seconds: float = 0.0
    target_scale: tuple[torch.Tensor, torch.Tensor] | None = None
    dense: DenseRecord | None = None
    epoch_rows: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None
    bf16: bool = False
    eval_batch_size: int = 1024
    layer4: dict[str, torch.Tensor] | None = None

    def new_head(self, task: TaskSpec, seed: int) -> nn.Module:
        """A freshly initialised head for `task`, predicting in the targets' units."""
        head = build_head(task.head, task.num_classes, seed, task.frames, self.layer4)
        return head if self.target_scale is None else Standardized(head, *self.target_scale)


def split_details(readers: dict[str, Reader]) -> dict[str, dict[str, Any]]:
    """Each role's `Reader.split_details`, for the roles whose reader chose its split."""
    return {role: details for role, reader in readers.items() if (details := reader.split_details())}


def extract_jobs(
    trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, readers: dict[str, Reader], options: ScoreOptions
) -> tuple[dict[str, ExtractionJob], float]:
    """Plan and fill the cache for the given splits; returns their jobs by role and the seconds spent."""
    jobs = plan(encoder, [task], {task.id: readers}, options.image_size, **options.extraction())
    by_role = {role: jobs[(task.id, role)] for role in readers}
    return by_role, sum(run_extraction(trunk, job, options) for job in by_role.values())


def store_digests(jobs: dict[str, ExtractionJob], blocks: tuple[str, ...]) -> dict[str, str]:
    return {f"{role}/{block}": job.keys[block].digest for role, job in jobs.items() for block in blocks}


def head_labels(task: TaskSpec, reader: Reader, labels: torch.Tensor, head_classes: Sequence[str]) -> torch.Tensor:
    """The test labels of a task scored with another task's head, as positions in the classes that
    head was trained on, matched by name: ImageNetV2's folder k is the k-th ILSVRC2012 wnid, the
    ImageNet head's classes are its train folders, which may be a subset."""
    names = [reader.classes[label] for label in labels.tolist()]
    where = [reader.root / image_id for image_id in reader.image_ids()]
    return torch.from_numpy(
        labels_by_name(
            names,
            head_classes,
            where,
            f"the {task.scored_with} head was trained on",
            f"add those classes to {task.scored_with}'s train split and rescore it with --force, or remove their "
            f"images from {reader.root}",
        )
    )


def prepare(
    trunk: ResNet50Trunk,
    encoder: EncoderSpec,
    task: TaskSpec,
    options: ScoreOptions,
    head_classes: Sequence[str] | None = None,
) -> Prepared:
    """An image-level task: every split's pooled features in memory, labels from the label store.
    With `head_classes` (a task scored with another task's head) the test labels index those."""
    readers = task_readers(task, options.data_root)
    labels = {role: task_labels(task, reader, options.cache_root) for role, reader in readers.items()}
    if head_classes is not None:  # before extraction: an unseen class is refused before any encoding
        labels["test"] = head_labels(task, readers["test"], labels["test"], head_classes)
    jobs, seconds = extract_jobs(trunk, encoder, task, readers, options)
    features = {role: load_features(job, task.blocks, options.cache_root, options.device) for role, job in jobs.items()}
    train_rows, val_rows = (
        stratified_split(labels["train"], task.val_fraction, SPLIT_SEED)
        if "train" in labels
        else (torch.empty(0, dtype=torch.long),) * 2
    )
    test_rows = torch.arange(len(labels["test"]))
    return Prepared(
        train_source=features.get("train"),
        train_targets=LabelTargets(labels["train"]) if "train" in labels else None,
        train_rows=train_rows,
        val_rows=val_rows,
        test=TestSplit(features["test"], labels["test"], test_rows, task.metric, ids=sample_ids(readers["test"])),
        manifests={role: job.reader.manifest_digest for role, job in jobs.items()},
        stores=store_digests(jobs, task.blocks),
        image_size=jobs["test"].preprocessing.size,
        classes=list(head_classes if head_classes is not None else readers["train"].classes),
        extract_seconds=seconds,
        split_details=split_details(readers),
    )
