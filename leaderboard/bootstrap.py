"""Scores from per-sample statistics, and their bootstrap over test samples: one implementation, in numpy,
for the harness when it scores a split, for `ccbench rescore` when it checks a result, and for the
leaderboard's paired test between two results (docs/PROTOCOL.md §6).

Every metric of the benchmark is a function of the sum over samples of K per-sample statistics (a
sample's hits, its confusion counts, its error sums and valid pixels), so a bootstrap round is one
vector of resample counts times the (N, K) statistics. Scores take summed statistics of any leading
shape (..., K), so every round of a bootstrap is scored at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

ROUNDS, LEVEL, SEED = 1000, 0.95, 0
"""The bootstrap of every interval a result records: `rescore` repeats it exactly."""
CHUNK = 100
"""Rounds drawn at a time, bounding memory to CHUNK x N counts; part of the draw, so fixed."""


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def top1(sums: np.ndarray) -> np.ndarray:
    """Statistics (hit, 1) per sample: the fraction of samples whose arg-max class is the target."""
    return _ratio(sums[..., 0], sums[..., 1])


def miou(sums: np.ndarray) -> np.ndarray:
    """Statistics: each image's C x C confusion counts, flattened (rows true class, columns predicted);
    the mean over classes with a union of the per-class IoU."""
    classes = math.isqrt(sums.shape[-1])
    matrix = sums.reshape(*sums.shape[:-1], classes, classes)
    true_positive = np.diagonal(matrix, axis1=-2, axis2=-1)
    union = matrix.sum(axis=-2) + matrix.sum(axis=-1) - true_positive
    iou = np.where(union > 0, _ratio(true_positive, np.maximum(union, 1)), np.nan)
    present = union > 0
    return _ratio(np.where(present, iou, 0.0).sum(axis=-1), present.sum(axis=-1))


def miou_fg(sums: np.ndarray) -> np.ndarray:
    """Statistics as miou's; the mean over every class but 0 (background) with a union."""
    classes = math.isqrt(sums.shape[-1])
    matrix = sums.reshape(*sums.shape[:-1], classes, classes)
    true_positive = np.diagonal(matrix, axis1=-2, axis2=-1)[..., 1:]
    union = (matrix.sum(axis=-2) + matrix.sum(axis=-1))[..., 1:] - true_positive
    present = union > 0
    iou = np.where(present, _ratio(true_positive, np.maximum(union, 1)), 0.0)
    return _ratio(iou.sum(axis=-1), present.sum(axis=-1))


def positive_iou(sums: np.ndarray) -> np.ndarray:
    """Statistics (IoU, 1) per image: the mean over images of the positive class's smoothed IoU."""
    return _ratio(sums[..., 0], sums[..., 1])


def neg_l1(sums: np.ndarray) -> np.ndarray:
    """Statistics (absolute error sum, valid pixels): minus the mean absolute depth error."""
    return -_ratio(sums[..., 0], sums[..., 1])


def kitti_fl(sums: np.ndarray) -> np.ndarray:
    """Statistics (outlier pixels, valid pixels, end-point error sum): 1 - the outlier rate."""
    return 1.0 - _ratio(sums[..., 0], sums[..., 1])


SCORES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "top1": top1,
    "miou": miou,
    "miou_fg": miou_fg,
    "positive_iou": positive_iou,
    "neg_l1": neg_l1,
    "kitti_fl": kitti_fl,
}


def score(metric: str, stats: np.ndarray) -> float:
    """The split's score from its (N, K) per-sample statistics."""
    return float(SCORES[metric](np.asarray(stats, dtype=np.float64).sum(axis=0)))


def resample_counts(samples: int, rounds: int, seed: int) -> list[np.ndarray]:
    """Each round's count of every sample in a resample with replacement, in chunks of CHUNK rounds:
    the same draw for the same (samples, rounds, seed), so two results resampled with it are paired."""
    generator = np.random.default_rng(seed)
    chunks = []
    for start in range(0, rounds, CHUNK):
        size = min(CHUNK, rounds - start)
        draws = generator.integers(samples, size=(size, samples)) + samples * np.arange(size)[:, None]
        chunks.append(np.bincount(draws.ravel(), minlength=size * samples).reshape(size, samples).astype(np.float64))
    return chunks


def round_scores(metric: str, stats: np.ndarray, counts: list[np.ndarray]) -> np.ndarray:
    """The score of every round: (rounds,)."""
    stats = np.asarray(stats, dtype=np.float64)
    return np.concatenate([SCORES[metric](chunk @ stats) for chunk in counts])


def percentile(scores: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile interval of the finite round scores (a round may leave no scored pixel)."""
    tail = (1 - level) / 2
    low, high = np.quantile(scores[np.isfinite(scores)], [tail, 1 - tail])
    return float(low), float(high)


def interval(
    metric: str, stats: np.ndarray, rounds: int = ROUNDS, level: float = LEVEL, seed: int = SEED
) -> tuple[float, float] | None:
    """Percentile bootstrap interval over test samples; None with fewer than two samples."""
    if len(stats) < 2:
        return None
    return percentile(round_scores(metric, stats, resample_counts(len(stats), rounds, seed)), level)


def paired_difference(
    metric: str,
    first: list[np.ndarray],
    second: list[np.ndarray],
    rounds: int = ROUNDS,
    level: float = LEVEL,
    seed: int = SEED,
) -> tuple[float, float] | None:
    """Percentile interval of (first's score - second's) when both are scored on the same resample of
    their shared test samples; each side's score is the mean over its seeds' (N, K) statistics, rows
    aligned sample by sample. None with fewer than two shared samples."""
    samples = len(first[0])
    if samples < 2:
        return None
    counts = resample_counts(samples, rounds, seed)
    mean = [np.mean([round_scores(metric, stats, counts) for stats in side], axis=0) for side in (first, second)]
    return percentile(mean[0] - mean[1], level)
