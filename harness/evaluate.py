"""Score one encoder on one task: extract what is missing, train the grid, select on validation,
test once with the selected heads of every seed, and write the result (plus the heads, for tasks
scored with another task's head)."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from encoders import EncoderSpec, ResNet50Trunk
from harness import __version__
from harness.cache import repairing
from harness.cache_key import digest
from harness.dense import prepare_dense
from harness.grid import resolve_grid
from harness.heads import build_head
from harness.options import ScoreOptions
from harness.prepare import Prepared, prepare
from harness.progress import progress
from harness.results import SCHEMA_VERSION, head_path, load_head, load_result, result_path, save_head, write_result
from harness.train import TrainConfig, select, train_grid
from tasks import PROTOCOL_VERSION, TaskSpec, get_task

log = logging.getLogger("ccbench")


def score_task(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> tuple[dict, Path]:
    """Score and write the result; an existing result is returned as is unless `force`."""
    path = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag())
    if path.exists() and not options.force:
        log.info("%s on %s: already scored in %s (--force to rescore)", encoder.name, task.id, path)
        return load_result(path), path
    if task.scored_with:
        return _score_with_other_head(trunk, encoder, task, options, path)
    data = repairing(lambda: (prepare_dense if task.dense else prepare)(trunk, encoder, task, options))
    points = resolve_grid(options.grid, task)
    epochs = options.epochs or task.epochs
    timings = {"extract": data.extract_seconds, "train": 0.0, "evaluate": 0.0}
    runs = []
    for seed in options.seeds:
        config = TrainConfig(task.batch_size, epochs, task.loss, task.metric, seed, **data.config)
        heads = [data.wrap_head(build_head(task.head, task.num_classes, seed, task.frames)) for _ in points]
        started = time.perf_counter()
        with progress(epochs, f"train {task.id} seed {seed} ({len(points)} grid points)", options.quiet) as advance:
            outcomes = train_grid(heads, points, data.train_source, data.train_targets, data.train_rows,
                                  data.val_rows, config, options.device, on_epoch=lambda epoch: advance(1))
        timings["train"] += time.perf_counter() - started
        best = select(outcomes)
        save_head(head_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag(), seed),
                  outcomes[best].state)
        runs.append((seed, heads[best], outcomes))
    started = time.perf_counter()
    metrics = data.score_test([head for _, head, _ in runs])
    timings["evaluate"] = time.perf_counter() - started
    per_seed = []
    for (seed, _, outcomes), metric in zip(runs, metrics):
        best = outcomes[select(outcomes)]
        interval = metric.interval()
        per_seed.append({"seed": seed, "score": metric.compute(), "ci95": list(interval) if interval else None,
                         "val_score": best.best_val, "epoch": best.best_epoch, "point": best.point.name,
                         "val_curve": best.val_curve,
                         "grid": [{"point": o.point.name, "optimizer": o.point.optimizer, "lr": o.point.lr,
                                   "best_epoch": o.best_epoch, "best_val": o.best_val, "val_curve": o.val_curve,
                                   "train_loss": o.train_loss}
                                  for o in outcomes]})
    splits = {"train": len(data.train_rows), "val": len(data.val_rows), "test": data.test_count}
    chosen = next(p for p in points if p.name == per_seed[0]["point"])
    result = _result(encoder, task, options, data, per_seed, splits, timings,
                     {"optimizer": chosen.optimizer, "lr": chosen.lr, "batch_size": task.batch_size,
                      "epochs": epochs, "grid": [p.name for p in points], "val_fraction": task.val_fraction,
                      **data.hparams})
    return result, write_result(path, result)


def _score_with_other_head(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions,
                           path: Path) -> tuple[dict, Path]:
    """Score a test-only task with the head selected for `task.scored_with` (scoring that task first)."""
    source = get_task(task.scored_with)
    source_result, _ = score_task(trunk, encoder, source, dataclasses.replace(options, force=False))
    data = repairing(lambda: prepare(trunk, encoder, task, options))
    started = time.perf_counter()
    heads = []
    for run in source_result["seeds"]:
        head = build_head(source.head, source.num_classes, run["seed"], source.frames)
        head.load_state_dict(load_head(head_path(options.results_dir, encoder.fingerprint, source.id,
                                                 options.protocol_tag(), run["seed"])))
        heads.append(head.to(options.device))
    per_seed = []
    for run, metric in zip(source_result["seeds"], data.score_test(heads)):
        interval = metric.interval()
        per_seed.append({**{k: run[k] for k in ("seed", "val_score", "epoch", "point")}, "score": metric.compute(),
                         "ci95": list(interval) if interval else None})
    timings = {"extract": data.extract_seconds, "train": 0.0, "evaluate": time.perf_counter() - started}
    result = _result(encoder, task, options, data, per_seed, {"train": 0, "val": 0, "test": data.test_count},
                     timings, {**source_result["hparams"], "scored_with": source.id})
    return result, write_result(path, result)


def _result(encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions, data: Prepared, per_seed: list[dict],
            splits: dict[str, int], timings: dict[str, float], hparams: dict[str, Any]) -> dict[str, Any]:
    """The result record (schema in harness.results)."""
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
        "hparams": {**hparams, "image_size": list(data.image_size)},
        "overrides": options.overrides(),
        "manifests": data.manifests,
        "cache_key": digest(data.stores),
        "cache_stores": data.stores,
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
