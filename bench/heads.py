"""Seconds per epoch of the paper's grid trained together on in-memory pooled features: 1 head,
5 grid points, and 5 points x 3 seeds, each as one HeadStack (`train_grid`'s default) and as
separate modules (`stack=False`; seeds then train one call after another, as before lockstep).

The paper's grid (five optimiser settings) is trained in one pass over the cached features
(harness.train.train_grid): each batch is fetched once and feeds every head. This measures what
the extra heads cost: the project's goals are five heads under twice one head, and 5 points x 3
seeds at most 1.5 times one head on a GPU. Features are random (50,000 x 2048 float32, 100
classes, batch 32): head cost does not depend on their values. Per-step costs at every task's
real shape are in bench/battery.py.

Then a lockstep group of tasks (harness.lockstep.train_together, as `ccbench run` trains the
image-level battery): four linear tasks of 10, 47, 100 and 397 classes with 8,000 to 20,000
samples, one epoch each, trained one after another (the sum) and in one loop, with the device's
default packing (padded into one stack on a GPU, one stack per class count on a CPU) and padded
into one stack. Goal on a GPU: the loop's wall time near the longest task's, not the sum. On a
GPU the stacked step is replayed as a CUDA graph (harness.graphs).

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
from harness.lockstep import TrainJob, pads_by_default, train_together
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


TASKS = (
    ("10 classes", 10, 8_000),
    ("47 classes", 47, 2_000),
    ("100 classes", 100, 20_000),
    ("397 classes", 397, 8_000),
)
"""(name, classes, samples) of the lockstep group: the battery's EuroSAT, DTD, CIFAR-100 and SUN397
heads at a fraction of their sizes."""


def task_jobs(device: str, scale: float) -> list[TrainJob]:
    """The lockstep group's jobs, fresh heads, one epoch, 10% validation; `scale` shrinks samples."""
    jobs = []
    for name, classes, samples in TASKS:
        n = max(int(samples * scale), 64)
        generator = torch.Generator().manual_seed(classes)
        source = InMemoryFeatures({"pool": torch.randn(n, 2048, generator=generator)}, device)
        labels = torch.randint(0, classes, (n,), generator=generator)
        config = TrainConfig(32, 1, "cross_entropy", "top1", num_classes=classes)
        heads = [build_head("linear", classes, seed=0)]
        jobs.append(
            TrainJob(
                name,
                heads,
                [PAPER[0]],
                [0],
                source,
                labels,
                torch.arange(n - n // 10),
                torch.arange(n - n // 10, n),
                config,
            )
        )
    return jobs


def lockstep_seconds(device: str, scale: float) -> dict[str, float]:
    """Wall seconds of the group trained task after task, of the longest task alone, and in one
    loop (default packing, and padded into one stack)."""

    def wall(action) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        action()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    alone = [wall(lambda job=job: train_together([job], device)) for job in task_jobs(device, scale)]
    return {
        "sum": sum(alone),
        "longest": max(alone),
        **{f"alone {name}": seconds for (name, _, _), seconds in zip(TASKS, alone)},
        "together": wall(lambda: train_together(task_jobs(device, scale), device)),
        "together padded": wall(lambda: train_together(task_jobs(device, scale), device, pad=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--task-scale", type=float, default=1.0, help="shrink the lockstep group's samples")
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
    lockstep_seconds(args.device, 0.05)  # warm-up
    group = [lockstep_seconds(args.device, args.task_scale) for _ in range(args.repeats)]
    tasks = {key: min(run[key] for run in group) for key in group[0]}
    print(f"lockstep group of {len(TASKS)} tasks (default packing pads: {pads_by_default(args.device)}), s (best):")
    for key, seconds in tasks.items():
        print(f"{key:>22}  {seconds:8.2f}  {seconds / tasks['longest']:5.2f} x longest")
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
        "lockstep_tasks": {
            "tasks": [
                {"name": name, "classes": classes, "samples": int(samples * args.task_scale)}
                for name, classes, samples in TASKS
            ],
            "pads": pads_by_default(args.device),
            "seconds": group,
            "best_seconds": tasks,
            "together_to_sum": tasks["together"] / tasks["sum"],
            "together_to_longest": tasks["together"] / tasks["longest"],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
