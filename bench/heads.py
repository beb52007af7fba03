"""Seconds per epoch of the paper's grid trained together on in-memory pooled features: 1 head,
5 grid points, and 5 points x 3 seeds, each as one HeadStack (`train_grid`'s default) and as
separate modules (`stack=False`; seeds then train one call after another, as before lockstep).

The paper's grid (five optimiser settings) is trained in one pass over the cached features
(harness.train.train_grid): each batch is fetched once and feeds every head. This measures what
the extra heads cost: the project's goals are five heads under twice one head, and 5 points x 3
seeds at most 1.5 times one head on a GPU. Features are random (50,000 x 2048 float32, 100
classes, batch 32): head cost does not depend on their values. Per-step costs at every task's
real shape are in bench/battery.py.

    python bench/heads.py [--images 50000] [--epochs 1] [--repeats 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from harness.grid import resolve_grid
from harness.heads import build_head
from harness.sources import InMemoryFeatures
from harness.train import TrainConfig, train_grid
from tasks import get_task

PAPER = resolve_grid("paper", get_task("cifar100"))
RUNS = ((1, 1), (5, 1), (5, 3))
"""(grid points, seeds) of each measured run."""


def seconds_per_epoch(
    source: InMemoryFeatures, labels: torch.Tensor, points: int, seeds: int, stack: bool, epochs: int, device: str
) -> float:
    """Wall time of `epochs` epochs of `points` x `seeds` heads, per epoch (validation included):
    one train_grid call for all of them stacked, else one call per seed."""
    n = len(labels)
    train, val = torch.arange(n - n // 10), torch.arange(n - n // 10, n)
    calls = [list(range(seeds))] if stack else [[seed] for seed in range(seeds)]
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for group in calls:
        order = [seed for seed in group for _ in range(points)]
        models = [build_head("linear", 100, seed=seed) for seed in order]
        train_grid(
            models,
            list(PAPER[:points]) * len(group),
            source,
            labels,
            train,
            val,
            TrainConfig(32, epochs, "cross_entropy", "top1"),
            device,
            seeds=order,
            stack=stack,
        )
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "heads.json")
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 100, (args.images,), generator=generator)
    source = InMemoryFeatures({"pool": torch.randn(args.images, 2048, generator=generator)}, args.device)
    for stack in (False, True):  # warm-up
        seconds_per_epoch(source, labels[:2000], 1, 1, stack, 1, args.device)
    configs = [(points, seeds, stack) for stack in (False, True) for points, seeds in RUNS]
    runs: dict[tuple[int, int, bool], list[float]] = {config: [] for config in configs}
    for _ in range(args.repeats):  # alternate, so drift in machine load hits all alike
        for config in configs:
            runs[config].append(seconds_per_epoch(source, labels, *config, args.epochs, args.device))
    best = {config: min(times) for config, times in runs.items()}
    name = {config: f"{config[0]}x{config[1]} {'stack' if config[2] else 'modules'}" for config in configs}
    print(f"{'heads':>16}  {'s/epoch (best)':>14}  {'/ 1 head':>8}  all runs")
    for config, times in runs.items():
        ratio = best[config] / best[(1, 1, config[2])]
        print(f"{name[config]:>16}  {best[config]:>14.2f}  {ratio:>8.2f}  {', '.join(f'{t:.2f}' for t in times)}")
    ratios = {
        "5_to_1_stack": best[(5, 1, True)] / best[(1, 1, True)],
        "15_to_1_stack": best[(5, 3, True)] / best[(1, 1, True)],
        "5_to_1_modules": best[(5, 1, False)] / best[(1, 1, False)],
    }
    print(
        f"5 heads / 1 head (stack) = {ratios['5_to_1_stack']:.2f} (goal < 2.0); "
        f"5x3 / 1 (stack) = {ratios['15_to_1_stack']:.2f} (goal <= 1.5 on a GPU)"
    )
    report = {
        "settings": {
            "images": args.images,
            "dim": 2048,
            "classes": 100,
            "batch_size": 32,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "device": args.device,
        },
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        },
        "seconds_per_epoch": {name[config]: times for config, times in runs.items()},
        "best_seconds_per_epoch": {name[config]: seconds for config, seconds in best.items()},
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
