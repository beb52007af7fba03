"""Score one encoder on one task: extract what is missing, train the grid, select on validation,
test once with the selected head, and write the result (plus the head, for tasks scored with it)."""
from __future__ import annotations

import dataclasses
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
from harness.grid import GridPoint, resolve_grid
from harness.heads import build_head
from harness.plan import ExtractionJob, plan, task_readers
from harness.progress import progress
from harness.results import SCHEMA_VERSION, head_path, load_head, load_result, result_path, save_head, write_result
from harness.train import InMemoryFeatures, TrainConfig, evaluate_heads, select, stratified_split, train_grid
from tasks import PROTOCOL_VERSION, TaskSpec, get_task
from tasks.readers import FrameReader, Reader

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
    grid: str = "table2"
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
        if self.grid != "table2":
            out["grid"] = self.grid
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


def task_labels(task: TaskSpec, reader: Reader, cache_root: Path) -> torch.Tensor:
    """Labels from the label store, written there from the reader the first time."""
    key = LabelKey(task.id, task.version, reader.manifest_digest)
    labels = load_labels(cache_root, key)
    if labels is None:
        labels = reader.labels()
        save_labels(cache_root, key, labels)
    return torch.from_numpy(labels)


def load_features(job: ExtractionJob, blocks: tuple[str, ...], cache_root: Path, device: str) -> InMemoryFeatures:
    """A split's cached blocks in memory; multi-frame readers index them by sample."""
    arrays = {}
    for block in blocks:
        store = FeatureStore.open_complete(cache_root, job.keys[block])
        if store is None:
            raise CacheError(f"{FeatureStore.path_for(cache_root, job.keys[block])}: store missing or unfinished "
                             "after extraction; was it removed meanwhile? rerun the command")
        arrays[block] = torch.from_numpy(store.read_all())
    samples = torch.from_numpy(job.reader.samples()) if isinstance(job.reader, FrameReader) else None
    return InMemoryFeatures(arrays, device, samples)


@dataclass
class _Prepared:
    """A task's jobs, extraction time and, per role, its features and labels in memory."""

    jobs: dict[tuple[str, str], ExtractionJob]
    extract_seconds: float
    features: dict[str, InMemoryFeatures]
    labels: dict[str, torch.Tensor]


def prepare(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> _Prepared:
    readers = {task.id: task_readers(task, options.data_root)}
    jobs = plan(encoder, [task], readers, options.image_size)
    seconds = sum(run_extraction(trunk, jobs[(task.id, role)], options) for role in task.splits)
    features = {role: load_features(jobs[(task.id, role)], task.blocks, options.cache_root, options.device)
                for role in task.splits}
    labels = {role: task_labels(task, jobs[(task.id, role)].reader, options.cache_root) for role in task.splits}
    return _Prepared(jobs, seconds, features, labels)


def score_task(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> tuple[dict, Path]:
    """Score and write the result; an existing result is returned as is unless `force`."""
    path = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag())
    if path.exists() and not options.force:
        log.info("%s on %s: already scored in %s (--force to rescore)", encoder.name, task.id, path)
        return load_result(path), path
    if task.scored_with:
        return _score_with_other_head(trunk, encoder, task, options, path)
    data = prepare(trunk, encoder, task, options)
    train_rows, val_rows = stratified_split(data.labels["train"], task.val_fraction, SPLIT_SEED)
    test_rows = torch.arange(len(data.labels["test"]))
    points = resolve_grid(options.grid, task)
    epochs = options.epochs or task.epochs
    timings = {"extract": data.extract_seconds, "train": 0.0, "evaluate": 0.0}
    per_seed = []
    for seed in options.seeds:
        config = TrainConfig(task.batch_size, epochs, task.loss, task.metric, seed)
        heads = [build_head(task.head, task.num_classes, seed, task.frames) for _ in points]
        started = time.perf_counter()
        with progress(epochs, f"train {task.id} seed {seed} ({len(points)} grid points)", options.quiet) as advance:
            outcomes = train_grid(heads, points, data.features["train"], data.labels["train"], train_rows,
                                  val_rows, config, options.device, on_epoch=lambda epoch: advance(1))
        timings["train"] += time.perf_counter() - started
        best = select(outcomes)
        started = time.perf_counter()
        (test_metric,) = evaluate_heads([heads[best]], data.features["test"], data.labels["test"], test_rows,
                                        task.metric)
        test_score, interval = test_metric.compute(), test_metric.interval()
        timings["evaluate"] += time.perf_counter() - started
        save_head(head_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag(), seed),
                  outcomes[best].state)
        per_seed.append({"seed": seed, "score": test_score, "ci95": list(interval) if interval else None,
                         "val_score": outcomes[best].best_val,
                         "epoch": outcomes[best].best_epoch, "point": outcomes[best].point.name,
                         "val_curve": outcomes[best].val_curve,
                         "grid": [{"point": o.point.name, "optimizer": o.point.optimizer, "lr": o.point.lr,
                                   "best_epoch": o.best_epoch, "best_val": o.best_val, "val_curve": o.val_curve,
                                   "train_loss": o.train_loss}
                                  for o in outcomes]})
    splits = {"train": len(train_rows), "val": len(val_rows), "test": len(test_rows)}
    chosen = next(p for p in points if p.name == per_seed[0]["point"])
    result = _result(encoder, task, options, data.jobs, per_seed, splits, timings,
                     {"optimizer": chosen.optimizer, "lr": chosen.lr, "batch_size": task.batch_size,
                      "epochs": epochs, "grid": [p.name for p in points], "val_fraction": task.val_fraction})
    return result, write_result(path, result)


def _score_with_other_head(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions,
                           path: Path) -> tuple[dict, Path]:
    """Score a test-only task with the head selected for `task.scored_with` (scoring that task first)."""
    source = get_task(task.scored_with)
    source_result, _ = score_task(trunk, encoder, source, dataclasses.replace(options, force=False))
    data = prepare(trunk, encoder, task, options)
    test_rows = torch.arange(len(data.labels["test"]))
    per_seed, started = [], time.perf_counter()
    for run in source_result["seeds"]:
        head = build_head(source.head, source.num_classes, run["seed"], source.frames)
        head.load_state_dict(load_head(head_path(options.results_dir, encoder.fingerprint, source.id,
                                                 options.protocol_tag(), run["seed"])))
        (metric,) = evaluate_heads([head.to(options.device)], data.features["test"], data.labels["test"], test_rows,
                                   task.metric)
        interval = metric.interval()
        per_seed.append({**{k: run[k] for k in ("seed", "val_score", "epoch", "point")}, "score": metric.compute(),
                         "ci95": list(interval) if interval else None})
    timings = {"extract": data.extract_seconds, "train": 0.0, "evaluate": time.perf_counter() - started}
    result = _result(encoder, task, options, data.jobs, per_seed, {"train": 0, "val": 0, "test": len(test_rows)},
                     timings, {**source_result["hparams"], "scored_with": source.id})
    return result, write_result(path, result)


def _result(encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions, jobs: dict, per_seed: list[dict],
            splits: dict[str, int], timings: dict[str, float], hparams: dict[str, Any]) -> dict[str, Any]:
    """The result record (schema in harness.results)."""
    stores = {f"{role}/{block}": jobs[(task.id, role)].keys[block].digest
              for role in task.splits for block in task.blocks}
    some_job = jobs[(task.id, next(iter(task.splits)))]
    first = per_seed[0]
    return {
        "schema_version": SCHEMA_VERSION,
        "version": PROTOCOL_VERSION,
        "ccbench_version": __version__,
        "encoder": encoder.metadata(),
        "task": task.id,
        "task_version": task.version,
        "category": task.category,
        "metric": task.metric,
        "higher_is_better": True,
        "score": float(np.mean([run["score"] for run in per_seed])),
        "score_std": float(np.std([run["score"] for run in per_seed])),
        "ci95": first.get("ci95"),
        "val_score": first["val_score"],
        "epoch": first["epoch"],
        "seed": first["seed"],
        "seeds": per_seed,
        "splits": splits,
        "hparams": {**hparams, "image_size": list(some_job.preprocessing.size)},
        "overrides": options.overrides(),
        "manifests": {role: jobs[(task.id, role)].reader.manifest_digest for role in task.splits},
        "cache_key": digest(stores),
        "cache_stores": stores,
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
