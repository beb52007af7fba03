"""Score one encoder on one task: extract what is missing, train the grid, select on validation,
test once with the selected heads of every seed, and write the result. The selected heads are kept
beside the results only where another task is scored with them (ImageNetV2 with ImageNet's), or
when asked (`save_heads`): a U-Net head is about 400 MB per seed."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from encoders import EncoderSpec, ResNet50Trunk
from harness import __version__
from harness.cache import repairing
from harness.cache_key import digest
from harness.dense import choose_mode, dense_cached_readers, prepare_dense
from harness.environment import Meter, environment
from harness.errors import USER_ERRORS, ResultError
from harness.grid import GridPoint, resolve_grid
from harness.heads import build_head
from harness.lockstep import JobOutcome, TrainJob, pads_by_default, train_together
from harness.metrics import WithSecondary
from harness.options import ScoreOptions
from harness.plan import plan, task_readers
from harness.prepare import Prepared, prepare, run_extraction
from harness.progress import progress
from harness.results import (
    head_path,
    load_head,
    load_result,
    result_path,
    save_head,
    save_predictions,
    write_result,
)
from harness.train import TrainConfig, TrainOutcome, select
from leaderboard.schema import SCHEMA_VERSION
from tasks import PROTOCOL_VERSION, DataError, TaskSpec, battery, get_task

log = logging.getLogger("ccbench")


def extract_shared(trunk: ResNet50Trunk, encoder: EncoderSpec, tasks: list[TaskSpec], options: ScoreOptions) -> float:
    """Before a run scores several tasks, encode each image set they share once, for the union of
    the blocks they read from the cache (Pets and Pets segmentation read the same images), rather
    than once per task; each task's own scoring then finds its stores complete. Tasks already
    scored, without data, scored with another task's head, or training with the encoder in the
    loop take no part. Returns the seconds spent."""
    readers = {}
    for task in tasks:
        scored = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag()).exists()
        if task.scored_with or (scored and not options.force):
            continue
        try:
            if not task.dense:
                readers[task.id] = task_readers(task, options.data_root)
            elif choose_mode(encoder, task, options) == "cache":
                readers[task.id] = dense_cached_readers(encoder, task, options)
        except DataError:
            continue
    jobs = plan(
        encoder, [task for task in tasks if task.id in readers], readers, options.image_size, **options.extraction()
    )
    return sum(run_extraction(trunk, job, options) for job in {id(job): job for job in jobs.values()}.values())


@dataclass
class TaskRun:
    """A task ready to train: its data, grid, and fresh heads seed-major (every grid point of a
    seed together), in one group of all seeds for image-level heads (they stack) or one group per
    seed for dense heads (a dense seed's heads fill the GPU on their own)."""

    task: TaskSpec
    path: Path
    data: Prepared
    points: tuple[GridPoint, ...]
    epochs: int
    groups: list[tuple[int, ...]]
    heads: list[list[nn.Module]]
    meter: Meter

    def config(self, seeds: tuple[int, ...]) -> TrainConfig:
        task, data = self.task, self.data
        return TrainConfig(
            task.batch_size,
            self.epochs,
            task.loss,
            task.metric,
            seeds[0],
            num_classes=task.num_classes,
            bf16=data.bf16,
            eval_batch_size=data.eval_batch_size,
            class_weights=task.class_weights,
            positive=task.positive,
        )

    def job(self, index: int = 0) -> TrainJob:
        """Group `index`'s heads as a job for train_together (or train_grid's arguments)."""
        seeds, data = self.groups[index], self.data
        return TrainJob(
            self.task.id,
            self.heads[index],
            list(self.points) * len(seeds),
            [seed for seed in seeds for _ in self.points],
            data.train_source,
            data.train_targets,
            data.train_rows,
            data.val_rows,
            self.config(seeds),
            data.epoch_rows,
        )


def plan_task(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> TaskRun:
    """Extract what is missing and hold what training reads."""
    path = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag())
    meter = Meter()
    with meter.stage("extract"):
        data = repairing(lambda: (prepare_dense if task.dense else prepare)(trunk, encoder, task, options))
    groups = [(seed,) for seed in options.seeds] if task.dense else [tuple(options.seeds)]
    points = resolve_grid(options.grid, task)
    heads = [[data.new_head(task, seed) for seed in seeds for _ in points] for seeds in groups]
    return TaskRun(task, path, data, points, options.epochs or task.epochs, groups, heads, meter)


def needs_scoring(encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> bool:
    path = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag())
    return options.force or not path.exists()


def score_task(trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions) -> tuple[dict, Path]:
    """Score and write the result; an existing result is returned as is unless `force`."""
    if task.protocol != options.protocol:
        raise ValueError(f"task {task.id} is of protocol {task.protocol}, the options of {options.protocol}")
    path = result_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag())
    if not needs_scoring(encoder, task, options):
        log.info("%s on %s: already scored in %s (--force to rescore)", encoder.name, task.id, path)
        return load_result(path), path
    if task.scored_with:
        return _score_with_other_head(trunk, encoder, task, options, path)
    run = plan_task(trunk, encoder, task, options)
    outcomes, seconds = [], 0.0
    for index, seeds in enumerate(run.groups):
        job = run.job(index)
        started = time.perf_counter()
        label = f"train {task.id} seed {', '.join(map(str, seeds))} ({len(run.points)} grid points)"
        with progress(run.epochs, label, options.quiet) as advance, run.meter.stage("train"):
            outcomes += job.train_alone(options.device, on_epoch=lambda epoch: advance(1))
        seconds += time.perf_counter() - started
    return finish_task(encoder, run, outcomes, seconds, options)


def score_together(
    trunk: ResNet50Trunk, encoder: EncoderSpec, tasks: Sequence[TaskSpec], options: ScoreOptions
) -> tuple[list[dict], dict[str, Exception]]:
    """Score image-level tasks with their heads trained in lockstep (harness.lockstep): each task's
    result is what `score_task` writes for it alone, but for timings, and is written as soon as
    its training ends. Returns the results in task order and the tasks that failed (data not
    found or unreadable, before or during training, or at test), which take no others with them.
    Dense tasks, tasks scored with another's head and tasks already scored go to `score_task`."""
    together = [t for t in tasks if not t.dense and not t.scored_with and needs_scoring(encoder, t, options)]
    failed: dict[str, Exception] = {}
    runs: dict[str, TaskRun] = {}
    for task in together:
        try:
            runs[task.id] = plan_task(trunk, encoder, task, options)
        except DataError as error:
            failed[task.id] = error
    results: dict[str, dict] = {}
    steps = [-(-len(run.data.train_rows) // run.task.batch_size) * run.epochs for run in runs.values()]
    total = max(steps, default=0) if pads_by_default(options.device) else sum(steps)  # stacks step together or in turn

    # each task's train bytes, like its train seconds, run from the loop's start to its last step
    training = {name: contextlib.ExitStack() for name in runs}

    def done(outcome: JobOutcome) -> None:
        training.pop(outcome.name).close()
        if outcome.error is not None:
            failed[outcome.name] = outcome.error
            return
        run = runs[outcome.name]
        try:
            results[outcome.name] = finish_task(
                encoder, run, outcome.outcomes, outcome.seconds, options, {"tasks": list(runs)}
            )[0]
        except (*USER_ERRORS, OSError) as error:
            failed[outcome.name] = error

    if runs:
        label = f"train {len(runs)} tasks in lockstep ({', '.join(runs)})"
        for name, stage in training.items():
            stage.enter_context(runs[name].meter.stage("train"))
        with progress(total, label, options.quiet) as advance:
            train_together([run.job() for run in runs.values()], options.device, lambda: advance(1), done)
    for task in tasks:
        if task.id in results or task.id in failed:
            continue
        try:
            results[task.id] = score_task(trunk, encoder, task, options)[0]
        except DataError as error:
            failed[task.id] = error
    return [results[t.id] for t in tasks if t.id in results], {t.id: failed[t.id] for t in tasks if t.id in failed}


def finish_task(
    encoder: EncoderSpec,
    run: TaskRun,
    outcomes: list[TrainOutcome],
    train_seconds: float,
    options: ScoreOptions,
    lockstep: dict[str, Any] | None = None,
) -> tuple[dict, Path]:
    """Select each seed's grid point on validation, keep heads where needed, test once with the
    selected heads of every seed and write the result. `lockstep` (the tasks trained together)
    enters the result; `train_seconds` is then the task's own wall time in the shared loop, from
    its start to the task's last step, overlapping the other tasks' times."""
    task, data, points = run.task, run.data, run.points
    keep_heads = options.save_heads or any(other.scored_with == task.id for other in battery(task.protocol).values())
    seeds = [seed for group in run.groups for seed in group]
    heads = [head for group in run.heads for head in group]
    chosen_runs: list[tuple[int, nn.Module, list[TrainOutcome], TrainOutcome]] = []
    for k, seed in enumerate(seeds):
        grid = outcomes[k * len(points) : (k + 1) * len(points)]
        best = select(grid)
        if keep_heads:
            save_head(
                head_path(options.results_dir, encoder.fingerprint, task.id, options.protocol_tag(), seed),
                grid[best].state,
            )
        chosen_runs.append((seed, heads[k * len(points) + best], grid, grid[best]))
    timings = {"extract": data.extract_seconds, "train": train_seconds, "evaluate": 0.0}
    started = time.perf_counter()
    with run.meter.stage("evaluate"):
        metrics = data.test.score([head for _, head, _, _ in chosen_runs])
        predictions = save_predictions(run.path, metrics, seeds, data.test.ids)
    timings["evaluate"] = time.perf_counter() - started
    per_seed = []
    for (seed, _, grid, best), metric in zip(chosen_runs, metrics):
        interval = metric.interval()
        per_seed.append(
            {
                "seed": seed,
                "score": metric.compute(),
                "ci95": list(interval) if interval else None,
                "val_score": best.best_val,
                "epoch": best.best_epoch,
                "point": best.point.name,
                "val_curve": best.val_curve,
                **({"secondary": metric.secondary()} if isinstance(metric, WithSecondary) else {}),
                "grid": [
                    {
                        "point": o.point.name,
                        "optimizer": o.point.optimizer,
                        "lr": o.point.lr,
                        "best_epoch": o.best_epoch,
                        "best_val": o.best_val,
                        "val_curve": o.val_curve,
                        "train_loss": o.train_loss,
                    }
                    for o in grid
                ],
            }
        )
    splits = {"train": len(data.train_rows), "val": len(data.val_rows), "test": len(data.test.rows)}
    chosen = chosen_runs[0][3].point
    hparams = {
        "optimizer": chosen.optimizer,
        "lr": chosen.lr,
        "batch_size": task.batch_size,
        "epochs": run.epochs,
        "grid": [p.name for p in points],
        "val_fraction": task.val_fraction,
        "compute": options.compute,
        "decode": options.decode,
    }
    if data.dense is not None:
        hparams.update(dataclasses.asdict(data.dense), bf16=data.bf16)
    result = _result(encoder, task, options, data, per_seed, splits, timings, hparams)
    if lockstep is not None:
        result["lockstep"] = lockstep
    result.update(predictions=predictions, environment=environment(options.device, run.meter))
    return result, write_result(run.path, result)


def _score_with_other_head(
    trunk: ResNet50Trunk, encoder: EncoderSpec, task: TaskSpec, options: ScoreOptions, path: Path
) -> tuple[dict, Path]:
    """Score a test-only task with the head selected for `task.scored_with` (scoring that task first)."""
    source = get_task(task.scored_with, task.protocol)
    source_result, source_path = score_task(trunk, encoder, source, dataclasses.replace(options, force=False))
    if "classes" not in source_result:
        raise ResultError(
            f"{source_path}: records no classes for its heads (written before results did), so "
            f"{task.id} labels cannot be matched to them; rescore {source.id} with --force"
        )
    meter = Meter()
    with meter.stage("extract"):
        data = repairing(lambda: prepare(trunk, encoder, task, options, source_result["classes"]))
    started = time.perf_counter()
    heads = []
    for run in source_result["seeds"]:
        head = build_head(source.head, source.num_classes, run["seed"], source.frames)
        head.load_state_dict(
            load_head(
                head_path(options.results_dir, encoder.fingerprint, source.id, options.protocol_tag(), run["seed"])
            )
        )
        heads.append(head.to(options.device))
    with meter.stage("evaluate"):
        metrics = data.test.score(heads)
        predictions = save_predictions(path, metrics, [run["seed"] for run in source_result["seeds"]], data.test.ids)
    per_seed = []
    for run, metric in zip(source_result["seeds"], metrics):
        interval = metric.interval()
        per_seed.append(
            {
                **{k: run[k] for k in ("seed", "val_score", "epoch", "point")},
                "score": metric.compute(),
                "ci95": list(interval) if interval else None,
            }
        )
    timings = {"extract": data.extract_seconds, "train": 0.0, "evaluate": time.perf_counter() - started}
    result = _result(
        encoder,
        task,
        options,
        data,
        per_seed,
        {"train": 0, "val": 0, "test": len(data.test.rows)},
        timings,
        {**source_result["hparams"], "scored_with": source.id},
    )
    result.update(predictions=predictions, environment=environment(options.device, meter))
    return result, write_result(path, result)


def _result(
    encoder: EncoderSpec,
    task: TaskSpec,
    options: ScoreOptions,
    data: Prepared,
    per_seed: list[dict],
    splits: dict[str, int],
    timings: dict[str, float],
    hparams: dict[str, Any],
) -> dict[str, Any]:
    """The result record (schema in leaderboard.schema), with the battery it was scored in, so the leaderboard
    learns every task's category, metric, domains and protocol order from the files alone."""
    first = per_seed[0]
    secondary = {
        name: {
            **first["secondary"][name],
            "value": float(np.mean([run["secondary"][name]["value"] for run in per_seed])),
        }
        for name in first.get("secondary", {})
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "version": PROTOCOL_VERSION,
        "protocol": task.protocol,
        **({"secondary": secondary} if secondary else {}),
        "ccbench_version": __version__,
        "encoder": encoder.metadata(),
        "task": task.id,
        "task_version": task.version,
        "category": task.category,
        "metric": task.metric,
        "higher_is_better": True,
        "battery": [
            {"task": t.id, "category": t.category, "metric": t.metric, "domains": list(t.domains)}
            for t in battery(task.protocol).values()
        ],
        "score": float(np.mean([run["score"] for run in per_seed])),
        "score_std": float(np.std([run["score"] for run in per_seed])),
        "ci95": first.get("ci95"),
        "val_score": first["val_score"],
        "epoch": first["epoch"],
        "seed": first["seed"],
        "seeds": per_seed,
        "splits": splits,
        "classes": data.classes,
        "hparams": {**hparams, "image_size": list(data.image_size)},
        "overrides": options.overrides(),
        "manifests": data.manifests,
        "split_details": data.split_details,
        "cache_key": digest(data.stores),
        "cache_stores": data.stores,
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
