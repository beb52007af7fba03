"""Lockstep training: image-level heads of every grid point and seed trained as one HeadStack give
what each head trained alone, as its own module with a torch optimiser, gives."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest
import torch

from encoders import load_encoder
from harness.evaluate import score_task
from harness.grid import GridPoint
from harness.heads import build_head
from harness.options import ScoreOptions
from harness.sources import InMemoryFeatures
from harness.train import HeadStack, TrainConfig, evaluate_heads, stratified_split, train_grid
from tasks import get_task

GRID = (
    GridPoint("sgd", 1e-2),
    GridPoint("adam", 3e-4),
    GridPoint("adam", 1e-3),
    GridPoint("sgd", 1e-3),
    GridPoint("adam", 1e-4),
)
"""The paper's five points with the optimisers interleaved, so the stack's reordering is exercised."""


def separable(n: int, frames: int) -> tuple[InMemoryFeatures, torch.Tensor]:
    """Four Gaussian classes in 2048-d; with frames > 1, samples of consecutive frames sharing a class."""
    generator = torch.Generator().manual_seed(3)
    labels = torch.arange(n * frames) % 4
    features = torch.randn(4, 2048, generator=generator)[labels] + 3.0 * torch.randn(
        n * frames, 2048, generator=generator
    )
    samples = torch.arange(n * frames).reshape(n, frames) if frames > 1 else None
    return InMemoryFeatures({"pool": features}, samples=samples), labels[::frames] if frames > 1 else labels


def assert_same_weights(stacked: dict[str, torch.Tensor], alone: dict[str, torch.Tensor], point: GridPoint) -> None:
    """Equal to float rounding. The stack sums a batch's gradient in another order than nn.Linear;
    on the few weights whose gradient is near zero Adam, which divides by the gradient's own
    scale, can turn that rounding into part of a step, never more than lr per step taken."""
    for name, expected in alone.items():
        difference = (stacked[name] - expected).abs()
        if point.optimizer == "sgd":
            assert difference.max() <= 1e-6, name
        else:
            assert (difference > 1e-6).float().mean() <= 1e-4 and difference.max() <= 20 * point.lr, name


@pytest.mark.parametrize("head_name, frames", [("linear", 1), ("fusion", 2)])
def test_lockstep_seeds_and_points_equal_each_head_trained_alone(head_name: str, frames: int) -> None:
    source, labels = separable(96, frames)
    train, val = stratified_split(labels, 0.25, 0)
    seeds = [5] * len(GRID) + [6] * len(GRID)
    points = list(GRID) * 2
    heads = [build_head(head_name, 4, seed, frames) for seed in seeds]
    config = TrainConfig(16, 4, "cross_entropy", "top1")
    together = train_grid(heads, points, source, labels, train, val, config, seeds=seeds)
    curves = set()
    for head, point, seed, outcome in zip(heads, points, seeds, together):
        alone_head = build_head(head_name, 4, seed, frames)
        (alone,) = train_grid(
            [alone_head], [point], source, labels, train, val, dataclasses.replace(config, seed=seed), stack=False
        )
        assert outcome.point == point and outcome.val_curve == alone.val_curve and len(alone.val_curve) == 4
        assert (outcome.best_epoch, outcome.best_val) == (alone.best_epoch, alone.best_val)
        assert outcome.train_loss == pytest.approx(alone.train_loss, rel=1e-5, abs=1e-7)
        assert_same_weights(outcome.state, alone.state, point)
        assert_same_weights(head.state_dict(), alone_head.state_dict(), point)  # best epoch restored in the module
        (mine, theirs) = (m.compute() for m in evaluate_heads([head, alone_head], source, labels, val, "top1"))
        assert mine == theirs == alone.best_val
        curves.add(tuple(alone.val_curve))
    assert len(curves) > 2, "the heads should learn differently, or the comparison proves little"


@pytest.mark.parametrize("head_name, frames", [("linear", 1), ("fusion", 6)])
def test_stack_holds_each_head_and_computes_its_outputs(head_name: str, frames: int) -> None:
    """Three seeds x two points: every slot gives back its head's state exactly, and the stack's
    logits for each seed's own batch are that head's on the batch."""
    seeds, points = (0, 1, 2), (GridPoint("adam", 1e-3), GridPoint("sgd", 1e-2))
    heads = [build_head(head_name, 7, 10 * seed + k, frames) for seed in seeds for k in range(len(points))]
    seed_of = [seed for seed in seeds for _ in points]
    stack = HeadStack(heads, list(points) * len(seeds), seed_of, "cpu")
    batches = torch.randn(len(seeds), 5, frames, 2048).squeeze(2)
    with torch.no_grad():
        logits = stack(batches.flatten(0, 1), len(seeds))
        shared = stack(batches[0], 1)
        for slot, k in enumerate(stack.slots):
            assert all(
                torch.equal(value, heads[k].state_dict()[name])
                for name, value in stack.state(slot, list(stack.weights)).items()
            )
            expected = heads[k]({"pool": batches[seed_of[k]]})
            torch.testing.assert_close(logits[slot], expected, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(shared[slot], heads[k]({"pool": batches[0]}), rtol=1e-5, atol=1e-6)


def test_host_reads_follow_epochs_not_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Losses and scores reach the host once per epoch: on a GPU a read inside the epoch would make
    every step wait for the queue. Counted: calls that copy a tensor's values to Python or the host,
    made by the harness (torch's CPU optimisers read their own host-side step counters; on a GPU
    the stack's optimisers are fused and keep them on the device)."""
    reads = []

    def counted(method: str):
        original = getattr(torch.Tensor, method)

        def read(self: torch.Tensor, *args, **kwargs):
            if f"torch{os.sep}optim" not in sys._getframe(1).f_code.co_filename:
                reads.append(method)
            return original(self, *args, **kwargs)

        return read

    for method in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, method, counted(method))
    source, labels = separable(640, 1)
    counts = {}
    for train_rows in (128, 512):  # 4 and 16 steps per epoch
        heads = [build_head("linear", 4, seed) for seed in (0, 1) for _ in GRID]
        reads.clear()
        train_grid(
            heads,
            list(GRID) * 2,
            source,
            labels,
            torch.arange(train_rows),
            torch.arange(512, 640),
            TrainConfig(32, 3, "cross_entropy", "top1"),
            seeds=[seed for seed in (0, 1) for _ in GRID],
        )
        counts[train_rows] = len(reads)
    assert counts[128] == counts[512] > 0, counts


def test_only_image_level_heads_of_a_full_grid_stack() -> None:
    linear = [build_head("linear", 3, seed) for seed in (0, 1, 2, 3)]
    adam, sgd = GridPoint("adam", 1e-3), GridPoint("sgd", 1e-2)
    assert HeadStack.fits(linear, [adam, sgd, adam, sgd], [0, 0, 1, 1], "cross_entropy")
    assert not HeadStack.fits(linear, [adam, sgd, sgd, adam], [0, 0, 1, 1], "cross_entropy")  # seeds' grids differ
    assert not HeadStack.fits(linear[:2] + [build_head("linear", 4, 2)], [adam] * 3, [0, 0, 0], "cross_entropy")
    assert not HeadStack.fits([build_head("unet", 1, 0)], [adam], [0], "l1")
    assert not HeadStack.fits(linear[:1], [adam], [0], "l1")


def test_score_with_seeds_in_lockstep_equals_each_seed_scored_alone(tiny_cifar_root: Path, tmp_path: Path) -> None:
    """`score_task` with three seeds trains all 15 heads of the paper grid in one call; each seed's
    record equals the one scoring that seed alone writes."""
    trunk, encoder = load_encoder("random:0")
    options = ScoreOptions(
        data_root=tiny_cifar_root,
        cache_root=tmp_path / "cache",
        results_dir=tmp_path / "results",
        epochs=3,
        image_size=32,
        grid="paper",
        seeds=(0, 1, 2),
        quiet=True,
        force=True,
    )
    together, _ = score_task(trunk, encoder, get_task("cifar100"), options)
    for record in together["seeds"]:
        alone, _ = score_task(
            trunk, encoder, get_task("cifar100"), dataclasses.replace(options, seeds=(record["seed"],))
        )
        (expected,) = alone["seeds"]
        assert {key: record[key] for key in ("seed", "epoch", "point", "val_score", "val_curve")} == {
            key: expected[key] for key in ("seed", "epoch", "point", "val_score", "val_curve")
        }
        assert record["score"] == pytest.approx(expected["score"], abs=1e-9)
        for mine, theirs in zip(record["grid"], expected["grid"]):
            assert mine["val_curve"] == theirs["val_curve"] and mine["best_epoch"] == theirs["best_epoch"]
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5, abs=1e-7)
    assert together["score"] == pytest.approx(sum(r["score"] for r in together["seeds"]) / 3)
    assert len({tuple(r["val_curve"]) for r in together["seeds"]}) > 1, "seeds should differ"
