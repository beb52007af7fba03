"""Seconds per epoch of 1 vs 5 stacked linear heads on in-memory pooled features.

The paper's grid (five optimiser settings) is trained in one pass over the cached features
(harness.train.train_grid): each batch is fetched once and feeds every head. This measures what
the extra four heads cost: the project's goal is under twice one head. Features are random
(50,000 x 2048 float32, 100 classes, batch 32): head cost does not depend on their values.

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

from harness.grid import GridPoint
from harness.heads import build_head
from harness.sources import InMemoryFeatures
from harness.train import TrainConfig, train_grid

PAPER = (GridPoint("adam", 3e-4), GridPoint("adam", 1e-4), GridPoint("adam", 1e-3), GridPoint("sgd", 1e-2),
         GridPoint("sgd", 1e-3))


def seconds_per_epoch(source: InMemoryFeatures, labels: torch.Tensor, heads: int, epochs: int, device: str) -> float:
    """Wall time of `epochs` epochs of `heads` stacked heads, per epoch (validation pass included)."""
    n = len(labels)
    train, val = torch.arange(n - n // 10), torch.arange(n - n // 10, n)
    models = [build_head("linear", 100, seed=0) for _ in range(heads)]
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train_grid(models, PAPER[:heads], source, labels, train, val, TrainConfig(32, epochs, "cross_entropy", "top1"),
               device)
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
    seconds_per_epoch(source, labels[:2000], 1, 1, args.device)  # warm-up
    runs: dict[int, list[float]] = {1: [], 5: []}
    for _ in range(args.repeats):  # alternate, so drift in machine load hits both alike
        for heads in runs:
            runs[heads].append(seconds_per_epoch(source, labels, heads, args.epochs, args.device))
    best = {heads: min(times) for heads, times in runs.items()}
    ratio = best[5] / best[1]
    print(f"{'heads':>5}  {'s/epoch (best)':>14}  all runs")
    for heads, times in runs.items():
        print(f"{heads:>5}  {best[heads]:>14.2f}  {', '.join(f'{t:.2f}' for t in times)}")
    print(f"5 heads / 1 head = {ratio:.2f} (goal < 2.0: {'met' if ratio < 2 else 'NOT met'})")
    report = {"settings": {"images": args.images, "dim": 2048, "classes": 100, "batch_size": 32,
                           "epochs": args.epochs, "repeats": args.repeats, "device": args.device},
              "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                          "platform": platform.platform(),
                          "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None},
              "seconds_per_epoch": {str(h): t for h, t in runs.items()},
              "best_seconds_per_epoch": {str(h): t for h, t in best.items()},
              "ratio_5_to_1": ratio, "goal_met": ratio < 2}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
