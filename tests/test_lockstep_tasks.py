"""Cross-task lockstep: heads of several tasks trained in one loop (harness.lockstep) give what each
task's heads trained alone give; a task whose data fails stops alone; the CUDA-graph path stays off
on a CPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from encoders import load_encoder
from harness.evaluate import score_task, score_together
from harness.graphs import GraphedStep
from harness.grid import GridPoint
from harness.heads import build_head
from harness.lockstep import TrainJob, lockstep_key, train_together
from harness.options import ScoreOptions
from harness.results import load_result
from harness.sources import InMemoryFeatures
from harness.train import HeadStack, TrainConfig, stratified_split, train_grid
from tasks import DataCorrupt, get_task
from tasks.synthetic import write_cifar100
from tests.test_lockstep import assert_same_weights
from tests.writers.dtd import DTD_CLASSES, write_dtd
from tests.writers.eurosat import write_eurosat

GRID = [GridPoint("adam", 1e-3), GridPoint("sgd", 1e-2)]
SEEDS = [seed for seed in (3, 4) for _ in GRID]


def job(name: str, rows: int, classes: int, epochs: int, frames: int = 1) -> TrainJob:
    """A learnable job: Gaussian classes in 2048-d per frame, a stratified validation split; batches
    of 16, so most jobs' epochs end on a short batch ("wide" has 112 training rows: none)."""
    generator = torch.Generator().manual_seed(rows + classes)
    labels = torch.arange(rows) % classes
    features = torch.randn(classes, frames, 2048, generator=generator)[labels]
    features = (features + 3.0 * torch.randn(rows, frames, 2048, generator=generator)).squeeze(1)
    if frames > 1:
        features = features.reshape(rows * frames, 2048)
        samples = torch.arange(rows * frames).reshape(rows, frames)
    source = InMemoryFeatures({"pool": features}, samples=samples if frames > 1 else None)
    train, val = stratified_split(labels, 0.25, 0)
    head = "fusion" if frames > 1 else "linear"
    return TrainJob(
        name,
        [build_head(head, classes, seed, frames) for seed in SEEDS],
        GRID * 2,
        list(SEEDS),
        source,
        labels,
        train,
        val,
        TrainConfig(16, epochs, "cross_entropy", "top1", num_classes=classes),
    )


def fresh(task: TrainJob) -> list[torch.nn.Module]:
    """New heads as the job's were built (same seeds, so the same initial weights)."""
    frames = getattr(task.heads[0], "frames", 1)
    head = "fusion" if frames > 1 else "linear"
    return [build_head(head, task.config.num_classes, seed, frames) for seed in task.seeds]


def trained_alone(task: TrainJob) -> list:
    """The job's heads trained by train_grid alone, each its own module (the reference)."""
    return train_grid(
        fresh(task),
        task.points,
        task.source,
        task.targets,
        task.train_rows,
        task.val_rows,
        task.config,
        seeds=task.seeds,
        stack=False,
    )


def assert_same_outcomes(mine, theirs) -> None:
    for outcome, reference in zip(mine, theirs, strict=True):
        assert outcome.point == reference.point and outcome.val_curve == reference.val_curve
        assert (outcome.best_epoch, outcome.best_val) == (reference.best_epoch, reference.best_val)
        assert outcome.train_loss == pytest.approx(reference.train_loss, rel=1e-5, abs=1e-7)
        assert_same_weights(outcome.state, reference.state, outcome.point)


def test_tasks_in_lockstep_equal_each_task_trained_alone() -> None:
    """Three linear tasks of different sizes, class counts and epochs share one padded stack
    (finishing one by one), a fusion task trains beside them in its own; every head equals the
    head trained alone, and its module holds its best epoch's weights."""
    jobs = [job("wide", 150, 7, 2), job("small", 70, 3, 4), job("mid", 100, 4, 3), job("clips", 60, 5, 3, frames=2)]
    assert (
        len({lockstep_key(task) for task in jobs}) == 2 and len({lockstep_key(task, pad=False) for task in jobs}) == 4
    )
    done = train_together(jobs, pad=True)
    assert list(done) == ["clips", "wide", "mid", "small"], "tasks leave as their steps run out (9, 14, 15, 16)"
    curves = set()
    for task in jobs:
        outcome = done[task.name]
        assert outcome.error is None and outcome.seconds > 0
        assert [len(o.val_curve) for o in outcome.outcomes] == [task.config.epochs] * len(task.heads)
        assert_same_outcomes(outcome.outcomes, trained_alone(task))
        for head, o in zip(task.heads, outcome.outcomes):
            assert all(torch.equal(head.state_dict()[name], value) for name, value in o.state.items())
            assert o.state[next(reversed(o.state))].shape[0] == task.config.num_classes, "padding sliced off"
        curves |= {tuple(o.val_curve) for o in outcome.outcomes}
    assert len(curves) > 4, "heads should learn differently, or the comparison proves little"


def test_padded_classes_stay_zero_and_out_of_the_loss() -> None:
    """A 3-class head beside a 6-class one: its padded columns get no gradient, and its loss is the
    3-class cross-entropy."""
    heads = [build_head("linear", 3, 0), build_head("linear", 6, 1)]
    stack = HeadStack(heads, GRID[:1] * 2, [0, 1], "cpu")
    pooled, labels = torch.randn(2 * 5, 2048), torch.tensor([0, 1, 2, 0, 1, 5, 4, 3, 2, 1])
    losses = stack.losses(pooled, labels, torch.ones(2, 5))
    losses.sum().backward()
    weight = stack.parameter(0, "fc.weight")
    assert torch.all(weight.grad[0, :, 3:] == 0) and torch.all(stack.parameter(0, "fc.bias").grad[0, 3:] == 0)
    expected = torch.nn.functional.cross_entropy(heads[0]({"pool": pooled[:5]}), labels[:5])
    torch.testing.assert_close(losses[0], expected, rtol=1e-5, atol=1e-6)


class FailingFeatures(InMemoryFeatures):
    """Features whose reads fail from the `after`-th batch on, as a damaged dataset would."""

    def __init__(self, source: InMemoryFeatures, after: int) -> None:
        self.__dict__.update(source.__dict__)
        self.after, self.reads = after, 0

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        self.reads += 1
        if self.reads > self.after:
            raise DataCorrupt("bad.bin: unreadable; replace the file")
        return super().batch(rows)


def test_a_failing_task_stops_alone() -> None:
    """A task whose features fail mid-training is reported with its error; the others train on,
    each equal to its run alone (the stack sheds the failed task's lanes)."""
    jobs = [job("first", 100, 4, 3), job("broken", 120, 6, 3), job("last", 80, 3, 2)]
    jobs[1].source = FailingFeatures(jobs[1].source, after=4)
    reported = []
    done = train_together(jobs, on_done=reported.append, pad=True)
    assert [o.name for o in reported] == ["broken", "last", "first"]
    assert isinstance(done["broken"].error, DataCorrupt) and done["broken"].outcomes is None
    for task in (jobs[0], jobs[2]):
        assert done[task.name].error is None
        assert_same_outcomes(done[task.name].outcomes, trained_alone(task))


def test_cuda_graphs_stay_off_on_a_cpu() -> None:
    """On a CPU every call runs the step itself, nothing is captured; a CUDA device enables capture
    (which the first WARMUP_STEPS calls then precede)."""
    calls = []
    step = GraphedStep(lambda x: calls.append(x) or x * 2, "cpu")
    for k in range(6):
        assert torch.equal(step(torch.full((3,), float(k))), torch.full((3,), 2.0 * k))
    assert len(calls) == 6 and not step.captured and not step.enabled
    assert GraphedStep(lambda x: x, "cuda:0").enabled and not GraphedStep(lambda x: x, "cuda:0").captured


def test_run_in_lockstep_writes_what_scoring_each_task_alone_writes(tmp_path: Path) -> None:
    """Three image-level tasks of different sizes and classes (CIFAR-100 with 10 drawn classes,
    EuroSAT's 10, four DTD classes) scored together, and SUN397 without data: each result file
    equals the one `score_task` writes alone (per-seed scores, curves, grid), records the tasks it
    trained with, and the missing task is reported without stopping the others."""
    data = tmp_path / "data"
    write_cifar100(data, n_train=240, n_test=60, seed=2)
    write_eurosat(data, per_class=12)
    write_dtd(data, classes=DTD_CLASSES[:4], per_class=18)
    trunk, encoder = load_encoder("random:0")
    options = ScoreOptions(
        data_root=data,
        cache_root=tmp_path / "cache",
        results_dir=tmp_path / "together",
        epochs=3,
        image_size=32,
        grid="paper",
        seeds=(0, 1),
        quiet=True,
    )
    tasks = [get_task(name) for name in ("cifar100", "eurosat", "dtd", "sun397")]
    results, failed = score_together(trunk, encoder, tasks, options)
    assert [r["task"] for r in results] == ["cifar100", "eurosat", "dtd"] and list(failed) == ["sun397"]
    alone_options = dataclasses.replace(options, results_dir=tmp_path / "alone")
    for result in results:
        assert result["lockstep"] == {"tasks": ["cifar100", "eurosat", "dtd"]}
        assert load_result(next((tmp_path / "together").glob(f"*__{result['task']}__*.json"))) == result
        expected, _ = score_task(trunk, encoder, get_task(result["task"]), alone_options)
        assert "lockstep" not in expected
        for mine, theirs in zip(result["seeds"], expected["seeds"], strict=True):
            assert {k: mine[k] for k in ("seed", "epoch", "point", "val_score", "val_curve")} == {
                k: theirs[k] for k in ("seed", "epoch", "point", "val_score", "val_curve")
            }
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-9)
            for a, b in zip(mine["grid"], theirs["grid"], strict=True):
                assert a["val_curve"] == b["val_curve"] and a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert result["score"] == pytest.approx(expected["score"], abs=1e-9)
        assert result["splits"] == expected["splits"] and result["classes"] == expected["classes"]
