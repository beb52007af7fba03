"""Score one encoder on one task: extract what is missing, train, select on validation, test once."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from encoders import EncoderSpec, ResNet50Trunk
from harness import __version__
from harness.cache import FeatureStore, LabelKey, load_labels, save_labels
from harness.cache_key import digest
from harness.errors import CacheError
from harness.extract import extract
from harness.heads import build_head
from harness.plan import ExtractionJob, plan, task_readers
from harness.progress import progress
from harness.results import SCHEMA_VERSION, load_result, result_path, write_result
from harness.train import InMemoryFeatures, TrainConfig, evaluate_head, stratified_split, train_head
from tasks import PROTOCOL_VERSION, TaskSpec
from tasks.readers import Reader

log = logging.getLogger("ccbench")
SPLIT_SEED = 0
"""The validation split never changes with the head seed: every seed selects on the same images."""


@dataclass(frozen=True)
class ScoreOptions:
    data_root: Path
    cache_root: Path
    results_dir: Path
    device: str = "cpu"
    batch_size: int = 64
    workers: int = 0
    epochs: int | None = None
    image_size: int | None = None
    seeds: tuple[int, ...] = (0,)
    force: bool = False
    quiet: bool = False

    def overrides(self) -> dict[str, Any]:
        """Protocol settings the user changed; they enter the result and its file name."""
        out: dict[str, Any] = {}
        if self.epochs is not None:
            out["epochs"] = self.epochs
        if self.image_size is not None:
            out["image_size"] = self.image_size
        return out

    def protocol_tag(self) -> str:
        """'1' for a standard run; a changed setting gets its own file, never the standard slot."""
        overrides = self.overrides()
        return PROTOCOL_VERSION if not overrides else f"{PROTOCOL_VERSION}-custom-{digest(overrides)[:8]}"


def run_extraction(trunk: ResNet50Trunk, job: ExtractionJob, options: ScoreOptions) -> float:
    """Fill the job's missing stores; returns seconds spent (0 when everything was cached)."""
    blocks = job.pending_blocks(options.cache_root)
    if not blocks:
        return 0.0
    stores = {block: FeatureStore.open_for_write(options.cache_root, job.keys[block], job.item_shape(block),
                                                 job.image_set) for block in blocks}
    rows = len(set().union(*(store.unit_rows(u) for store in stores.values() for u in store.pending_units())))
    with progress(rows, f"extract {job.image_set} [{', '.join(blocks)}]", options.quiet) as advance:
        stats = extract(trunk, job.reader, job.preprocessing, stores, job.image_set, options.batch_size,
                        options.device, options.workers, advance)
    return stats.seconds


def task_labels(task: TaskSpec, reader: Reader, cache_root: Path) -> np.ndarray:
    """Labels from the label store, written there from the reader the first time."""
    key = LabelKey(task.id, task.version, reader.manifest_digest)
    labels = load_labels(cache_root, key)
    if labels is None:
        labels = reader.labels()
        save_labels(cache_root, key, labels)
    return labels


def load_features(job: ExtractionJob, blocks: tuple[str, ...], cache_root: Path, device: str) -> InMemoryFeatures:
    arrays = {}
    for block in blocks:
        store = FeatureStore.open_complete(cache_root, job.keys[block])
        if store is None:
            raise CacheError(f"{FeatureStore.path_for(cache_root, job.keys[block])}: store missing or unfinished "
                             "after extraction; was it removed meanwhile? rerun the command")
        arrays[block] = torch.from_numpy(store.read_all())
    return InMemoryFeatures(arrays, device)


def score_task(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> tuple[dict, Path]:
    """Score and write the result; an existing result is returned as is unless `force`."""
    path = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag())
    if path.exists() and not options.force:
        log.info("%s on %s: already scored in %s (--force to rescore)", encoder.name, task.id, path)
        return load_result(path), path
    readers = {task.id: task_readers(task, options.data_root)}
    jobs = plan(encoder, [task], readers, options.image_size)
    timings = {"extract": 0.0, "train": 0.0, "evaluate": 0.0}
    for role in task.splits:
        timings["extract"] += run_extraction(trunk, jobs[(task.id, role)], options)

    train_job, test_job = jobs[(task.id, "train")], jobs[(task.id, "test")]
    train_labels = torch.from_numpy(task_labels(task, train_job.reader, options.cache_root))
    test_labels = torch.from_numpy(task_labels(task, test_job.reader, options.cache_root))
    train_features = load_features(train_job, task.blocks, options.cache_root, options.device)
    test_features = load_features(test_job, task.blocks, options.cache_root, options.device)
    train_rows, val_rows = stratified_split(train_labels, task.val_fraction, SPLIT_SEED)
    test_rows = torch.arange(len(test_labels))

    epochs = options.epochs or task.epochs
    per_seed = []
    for seed in options.seeds:
        config = TrainConfig(task.optimizer, task.lr, task.batch_size, epochs, task.loss, task.metric, seed)
        head = build_head(task.head, task.num_classes, seed)
        started = time.perf_counter()
        with progress(epochs, f"train {task.id} seed {seed}", options.quiet) as advance:
            outcome = train_head(head, train_features, train_labels, train_rows, val_rows, config, options.device,
                                 on_epoch=lambda epoch, score: advance(1))
        timings["train"] += time.perf_counter() - started
        started = time.perf_counter()
        test_score = evaluate_head(head, test_features, test_labels, test_rows, task.metric)
        timings["evaluate"] += time.perf_counter() - started
        per_seed.append({"seed": seed, "score": test_score, "val_score": outcome.best_val,
                         "epoch": outcome.best_epoch, "val_curve": outcome.val_curve})

    stores = {f"{role}/{block}": jobs[(task.id, role)].keys[block].digest for role in task.splits for block in task.blocks}
    first = per_seed[0]
    result = {
        "schema_version": SCHEMA_VERSION,
        "version": PROTOCOL_VERSION,
        "ccbench_version": __version__,
        "encoder": encoder.metadata(),
        "task": task.id,
        "task_version": task.version,
        "category": task.category,
        "metric": task.metric,
        "higher_is_better": True,
        "score": float(np.mean([s["score"] for s in per_seed])),
        "val_score": first["val_score"],
        "epoch": first["epoch"],
        "seed": first["seed"],
        "seeds": per_seed,
        "splits": {"train": len(train_rows), "val": len(val_rows), "test": len(test_rows)},
        "hparams": {"optimizer": task.optimizer, "lr": task.lr, "batch_size": task.batch_size, "epochs": epochs,
                    "image_size": list(train_job.preprocessing.size), "val_fraction": task.val_fraction},
        "overrides": options.overrides(),
        "cache_key": digest(stores),
        "cache_stores": stores,
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return result, write_result(path, result)
