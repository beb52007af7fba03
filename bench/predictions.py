"""What keeping per-sample predictions costs: bytes on disk and seconds to write them, next to the
seconds scoring the test split's metric (score and bootstrap interval) takes anyway, and the seconds
`ccbench rescore` takes to recompute it. Two realistic cases: an image-level task (10k test images,
100 classes, 3 seeds) and a dense one (500 images, 19 classes, 3 seeds, per-image confusion counts
from 256 x 512 label maps). Predictions are noisy copies of the truth; their values do not change
the cost. Goal: writing predictions adds under 10% to scoring. Writes bench/results/predictions.json.

    python bench/predictions.py [--images 10000] [--classes 100] [--dense-images 500] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from harness.metrics import MeanIoU, Metric, Top1
from harness.results import save_predictions
from leaderboard.predictions import Predictions, predictions_path, rescore

SEEDS = [0, 1, 2]


def image_level(images: int, classes: int) -> list[Metric]:
    truth = torch.randint(classes, (images,), generator=torch.Generator().manual_seed(0))
    metrics = []
    for seed in SEEDS:
        noise = torch.Generator().manual_seed(seed + 1)
        metric = Top1()
        for start in range(0, images, 1024):
            labels = truth[start : start + 1024]
            logits = 3 * torch.nn.functional.one_hot(labels, classes).float()
            metric.update(logits + 2 * torch.randn(logits.shape, generator=noise), labels)
        metrics.append(metric)
    return metrics


def dense(images: int, classes: int, size: tuple[int, int]) -> list[Metric]:
    generator = torch.Generator().manual_seed(0)
    truth = [torch.randint(classes, (1, *size), generator=generator) for _ in range(images)]
    metrics = []
    for seed in SEEDS:
        noise = torch.Generator().manual_seed(seed + 1)
        metric = MeanIoU(classes)
        for labels in truth:
            wrong = torch.rand(labels.shape, generator=noise) < 0.3
            metric.update(torch.where(wrong, (labels + 1) % classes, labels), labels)
        metrics.append(metric)
    return metrics


def measure(name: str, metrics: list[Metric], folder: Path) -> dict:
    started = time.perf_counter()
    scored = [(m.compute(), m.interval()) for m in metrics]
    score_s = time.perf_counter() - started
    path = folder / f"{name}.json"
    count = len(metrics[0].statistics())
    started = time.perf_counter()
    record = save_predictions(path, metrics, SEEDS, [f"{name}/{k:06d}.png" for k in range(count)])
    write_s = time.perf_counter() - started
    data = predictions_path(path).read_bytes()
    result = {
        "metric": metrics[0].name,
        "seeds": [{"seed": s, "score": sc, "ci95": list(ci)} for s, (sc, ci) in zip(SEEDS, scored)],
        "predictions": record,
    }
    started = time.perf_counter()
    again = rescore(result, Predictions.from_bytes(data, path))
    rescore_s = time.perf_counter() - started
    assert all(r["score"] == r["stored_score"] and r["ci95"] == r["stored_ci95"] for r in again)
    return {
        "case": name,
        "samples": count,
        "statistics_per_sample": int(metrics[0].statistics().shape[1]),
        "seeds": len(SEEDS),
        "bytes": len(data),
        "score_and_interval_s": round(score_s, 3),
        "write_predictions_s": round(write_s, 3),
        "overhead_%": round(100 * write_s / score_s, 1),
        "rescore_s": round(rescore_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--dense-images", type=int, default=500)
    parser.add_argument("--dense-classes", type=int, default=19)
    parser.add_argument("--out", type=Path, default=Path("bench/results/predictions.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [
            measure("image_level", image_level(args.images, args.classes), Path(folder)),
            measure("dense", dense(args.dense_images, args.dense_classes, (256, 512)), Path(folder)),
        ]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
