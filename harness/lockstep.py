"""Heads of several tasks trained in lockstep: one loop in which every step advances each task still
training by one batch of its own, so a run's training wall time follows its longest task rather
than the sum of all of them.

Tasks whose heads share an architecture up to their number of classes, a batch size, a grid and a
number of seeds (every image-level linear task of the battery, and fusion tasks of one frame
count) train as one HeadStack, a lane per (task, seed), narrower heads padded with masked
classes (on a GPU; on a CPU only heads of one class count share a stack and stacks train in
turn, `pads_by_default`): one batched matmul per layer and one optimiser step per grid point for
all of them. A task's short last batch of an epoch is padded to the batch size with zero-weight rows, so every
step has one shape (and on a GPU replays one CUDA graph). Each task validates at the end of its
own epochs and keeps its own best epochs; when a task is done (or fails) its lanes leave the
stack, with the optimiser's state of the others, so later steps cost only what remains. A head's
batches, initial weights and updates are its own alone, so every task gets what `train_grid` gives
it alone, to float rounding (tests/test_lockstep_tasks.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from harness.errors import USER_ERRORS
from harness.grid import GridPoint
from harness.sources import FeatureSource
from harness.targets import Targets, as_targets
from harness.train import (
    HeadStack,
    Record,
    TrainConfig,
    TrainOutcome,
    architecture,
    epoch_order,
    evaluate_outputs,
    keep_improved,
    output_width,
    stack_optimizers,
    stacked_step,
    targets_beside,
    train_grid,
)


@dataclass
class TrainJob:
    """One task's heads and data, as `train_grid` takes them; `name` keys its outcome."""

    name: str
    heads: list[nn.Module]
    points: list[GridPoint]
    seeds: list[int]
    source: FeatureSource
    targets: Targets | torch.Tensor
    train_rows: torch.Tensor
    val_rows: torch.Tensor
    config: TrainConfig
    epoch_rows: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None

    def train_alone(self, device: str, on_epoch: Callable[[int], None] | None = None) -> list[TrainOutcome]:
        """The job trained by itself (`train_grid`), as a job that cannot stack is."""
        return train_grid(
            self.heads,
            self.points,
            self.source,
            self.targets,
            self.train_rows,
            self.val_rows,
            self.config,
            device,
            on_epoch=on_epoch,
            seeds=self.seeds,
            epoch_rows=self.epoch_rows,
        )


@dataclass
class JobOutcome:
    """A job's outcomes (or the error that stopped it) and the seconds from the start of its
    loop (shared with the stacks stepping beside it) to its last step: its own wall time,
    overlapping the others'."""

    name: str
    outcomes: list[TrainOutcome] | None
    seconds: float
    error: Exception | None = None


def lockstep_key(job: TrainJob, pad: bool = True) -> tuple | None:
    """Jobs with one key train in one stack; None for heads that cannot stack (dense heads).
    Without `pad`, only heads of one number of classes share a stack."""
    if job.epoch_rows is not None:  # the stacked loop draws plain rows, not per-epoch views
        return None
    seeds = list(dict.fromkeys(job.seeds))
    lane_of = [seeds.index(seed) for seed in job.seeds]
    if not HeadStack.fits(job.heads, job.points, lane_of, job.config.loss):
        return None
    grid = tuple(point for point, lane in zip(job.points, lane_of) if lane == 0)
    width = None if pad else output_width(job.heads[0])
    return architecture(job.heads[0]), width, job.config.batch_size, job.config.bf16, grid, len(seeds)


def pads_by_default(device: str) -> bool:
    """Whether tasks of different class counts share a stack and all stacks step together: on a
    GPU, where a batch-32 step is bound by kernel launches and padding to the widest head
    (ImageNet's 1,000) costs next to nothing. Not on a CPU, where a step costs its arithmetic,
    which padding multiplies, and stacks stepping together gain nothing (their steps' costs add up
    either way) but take turns in the caches; there each class count's stack trains to its end in
    turn."""
    return torch.device(device).type == "cuda"


@dataclass
class _Run:
    """A job's state in its pack: its lanes, batch order, epoch and record."""

    job: TrainJob
    offset: int
    targets: Targets
    where: torch.device
    generators: list[torch.Generator]
    lane_of: list[int]
    record: Record
    epoch: int = 0
    batches: deque[torch.Tensor] = field(default_factory=deque)
    totals: torch.Tensor | None = None

    @property
    def lanes(self) -> int:
        return len(self.generators)

    def _points(self) -> list[int]:
        """Each head's grid point: its place among its lane's heads."""
        per_lane = [[k for k, lane in enumerate(self.lane_of) if lane == other] for other in range(self.lanes)]
        return [per_lane[lane].index(k) for k, lane in enumerate(self.lane_of)]

    def slots(self, stack: HeadStack) -> list[int]:
        """The stack slot of each of the job's heads, in the job's order."""
        return [p * stack.lanes + self.offset + lane for p, lane in zip(self._points(), self.lane_of)]

    def local(self) -> list[int]:
        """Where each of the job's heads sits among its own lanes' slots (validation logits)."""
        return [p * self.lanes + lane for p, lane in zip(self._points(), self.lane_of)]

    def next_batch(self, device: str) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The next (lanes, B) rows of every lane, a short last batch padded by repeating its first
        row, their (lanes, B) weights and the count of real rows; a new epoch's order when due."""
        config = self.job.config
        if not self.batches:
            self.epoch += 1
            order = epoch_order(self.job.train_rows, self.generators, self.where)
            self.batches = deque(order.split(config.batch_size, dim=1))
            self.totals = torch.zeros(len(self.job.heads), device=device)
        rows = self.batches.popleft()
        count = rows.shape[1]
        weights = torch.ones(self.lanes, config.batch_size, device=device)
        if count < config.batch_size:
            rows = torch.cat([rows, rows[:, :1].expand(-1, config.batch_size - count)], dim=1)
            weights[:, count:] = 0.0
        return rows, weights, count

    @property
    def epoch_done(self) -> bool:
        return not self.batches


class _Pack:
    """Jobs of one lockstep key trained as one HeadStack, lanes job by job."""

    def __init__(self, jobs: Sequence[TrainJob], device: str) -> None:
        self.device, self.runs = device, []
        heads, points, lane_of = [], [], []
        for job in jobs:
            seeds = list(dict.fromkeys(job.seeds))
            offset = sum(run.lanes for run in self.runs)
            targets, where = targets_beside(job.source, as_targets(job.targets))
            own = [seeds.index(seed) for seed in job.seeds]
            generators = [torch.Generator().manual_seed(seed) for seed in seeds]
            self.runs.append(_Run(job, offset, targets, where, generators, own, Record(len(job.heads))))
            heads += [head.to(device) for head in job.heads]
            points += job.points
            lane_of += [offset + lane for lane in own]
        self.stack = HeadStack(heads, points, lane_of, device)
        self.optimizers = stack_optimizers(self.stack, device)
        self.best = [weight.detach().clone() for weight in self.stack.weights]
        self._bind()

    def _bind(self) -> None:
        """Each run's slots in the current stack, and its step."""
        self.slot_of = [torch.tensor(run.slots(self.stack), device=self.device) for run in self.runs]
        self.step = stacked_step(self.stack, self.optimizers, self.device, self.runs[0].job.config.bf16)

    def tick(self) -> list[tuple[_Run, list[TrainOutcome] | None, Exception | None]]:
        """One step of every job; the jobs that finished at it (with their outcomes) or failed
        (with their error), already out of the stack."""
        batches, failed = [], []
        for run in self.runs:
            try:
                rows, weights, count = run.next_batch(self.device)
                pooled = run.job.source.batch(rows.reshape(-1))["pool"]
                labels = run.targets.batch(rows.reshape(-1)).to(self.device, non_blocking=True)
            except (*USER_ERRORS, OSError) as error:
                failed.append((run, None, error))
                continue
            batches.append((run, pooled, labels, weights, count))
        if failed:
            self.drop([run for run, _, _ in failed])
        if not batches:
            return failed
        losses = self.step(*(torch.cat([batch[k] for batch in batches]) for k in (1, 2, 3)))
        for run, *_, count in batches:
            run.totals += losses[self.slot_of[self.runs.index(run)]] * count
        leaving = []
        for run, *_ in batches:
            if not run.epoch_done:
                continue
            try:
                self._validate(run)
            except (*USER_ERRORS, OSError) as error:
                leaving.append((run, None, error))
                continue
            if run.epoch == run.job.config.epochs:
                leaving.append((run, self.finish(run), None))
        if leaving:
            self.drop([run for run, _, _ in leaving])
        return failed + leaving

    def _validate(self, run: _Run) -> None:
        config, index = run.job.config, self.runs.index(run)
        lanes = slice(run.offset, run.offset + run.lanes)
        local = torch.tensor(run.local(), device=self.device)
        width = self.stack.classes[run.offset]
        metrics = evaluate_outputs(
            lambda features, expected: self.stack(features["pool"], 1, lanes)[local][..., :width].unbind(0),
            len(run.job.heads),
            run.job.source,
            run.targets,
            run.job.val_rows.to(run.where),
            config.metric,
            config.num_classes,
            config.eval_batch_size,
            config.bf16,
        )
        improved = run.record.add(
            run.epoch, [m.compute() for m in metrics], run.totals.tolist(), len(run.job.train_rows)
        )
        chosen = [False] * len(self.stack.points) * self.stack.lanes
        for slot, better in zip(self.slot_of[index].tolist(), improved):
            chosen[slot] = better
        keep_improved(self.stack, self.best, chosen)

    def finish(self, run: _Run) -> list[TrainOutcome]:
        """The job's outcomes, its heads loaded with their best epochs' weights."""
        states = [self.stack.state(slot, self.best) for slot in self.slot_of[self.runs.index(run)].tolist()]
        for head, state in zip(run.job.heads, states):
            head.load_state_dict(state)
        return run.record.outcomes(run.job.points, states)

    def drop(self, gone: Sequence[_Run]) -> None:
        """Take the lanes of `gone` out of the stack; the others keep their weights, best weights
        and optimiser state, narrowed to them."""
        self.runs = [run for run in self.runs if run not in gone]
        if not self.runs:
            return
        lanes = [run.offset + lane for run in self.runs for lane in range(run.lanes)]
        old, self.stack = self.stack, self.stack.without(lanes, self.stack.weights)
        self.best = [old.narrow(index, value, lanes) for index, value in enumerate(self.best)]
        index_of = {id(weight): index for index, weight in enumerate(old.weights)}
        optimizers = stack_optimizers(self.stack, self.device)
        for before, after in zip(self.optimizers, optimizers):
            for group, new_group in zip(before.param_groups, after.param_groups):
                for weight, new_weight in zip(group["params"], new_group["params"]):
                    index = index_of[id(weight)]
                    after.state[new_weight] = {
                        name: old.narrow(index, value, lanes)
                        if torch.is_tensor(value) and value.shape == weight.shape
                        else (value.clone() if torch.is_tensor(value) else value)
                        for name, value in before.state[weight].items()
                    }
        self.optimizers = optimizers
        offset = 0
        for run in self.runs:
            run.offset, offset = offset, offset + run.lanes
        self._bind()


def train_together(
    jobs: Sequence[TrainJob],
    device: str = "cpu",
    on_step: Callable[[], None] | None = None,
    on_done: Callable[[JobOutcome], None] | None = None,
    pad: bool | None = None,
) -> dict[str, JobOutcome]:
    """Train every job, those of one `lockstep_key` in one stack and all stacks step by step
    together; jobs that cannot stack train alone with `train_grid` first. `on_done` is called as
    each job finishes (so its result can be written while the others train), `on_step` after
    every shared step; `pad` (padded stacks, all stepping together) as `pads_by_default` unless
    given. A job whose data fails is reported with its error; the others go on."""
    pad = pads_by_default(device) if pad is None else pad
    done: dict[str, JobOutcome] = {}

    def report(outcome: JobOutcome) -> None:
        done[outcome.name] = outcome
        if on_done is not None:
            on_done(outcome)

    keys: dict[tuple, list[TrainJob]] = {}
    for job in jobs:
        key = lockstep_key(job, pad)
        if key is not None:
            keys.setdefault(key, []).append(job)
            continue
        started = time.perf_counter()
        try:
            outcomes = job.train_alone(device)
            report(JobOutcome(job.name, outcomes, time.perf_counter() - started))
        except (*USER_ERRORS, OSError) as error:
            report(JobOutcome(job.name, None, time.perf_counter() - started, error))
    packs = [_Pack(group, device) for group in keys.values()]
    for together in [packs] if pad else [[pack] for pack in packs]:
        started = time.perf_counter()
        while together:
            for pack in together:
                for run, outcomes, error in pack.tick():
                    report(JobOutcome(run.job.name, outcomes, time.perf_counter() - started, error))
            together = [pack for pack in together if pack.runs]
            if on_step is not None:
                on_step()
    return done
