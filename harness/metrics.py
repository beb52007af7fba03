"""Metrics accumulated over a whole split, each with its direction (never averaged per batch)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

import numpy as np
import torch

from leaderboard import bootstrap


class Metric(ABC):
    """update() with each batch's outputs and targets, then compute() once for the split. Every
    metric is a function of the sum of K per-sample statistics (`statistics`), scored and bootstrapped
    by leaderboard.bootstrap, so a result's predictions file recomputes its score and interval exactly."""

    name: str
    higher_is_better: bool

    @abstractmethod
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None: ...

    @abstractmethod
    def statistics(self) -> np.ndarray:
        """(N, K) float64: each test sample's terms of the split's score, in scoring order."""

    def _require(self, stats: np.ndarray) -> np.ndarray:
        """Refuse to score a split with nothing scored (an empty split, no valid pixel)."""
        return stats

    def compute(self) -> float:
        return bootstrap.score(self.name, self._require(self.statistics()))

    def interval(
        self, rounds: int = bootstrap.ROUNDS, level: float = bootstrap.LEVEL, seed: int = bootstrap.SEED
    ) -> tuple[float, float] | None:
        """A percentile bootstrap 95% interval over test samples; None with fewer than two."""
        return bootstrap.interval(self.name, self._require(self.statistics()), rounds, level, seed)


def _stacked(parts: list[torch.Tensor], width: int) -> np.ndarray:
    """Per-batch (B, K) statistics as one (N, K) float64 array."""
    if not parts:
        return np.zeros((0, width))
    return torch.cat(parts).cpu().double().numpy()


class Top1(Metric):
    """Fraction of samples whose arg-max class equals the target, over every sample of the split."""

    name = "top1"
    higher_is_better = True

    def __init__(self) -> None:
        self.predicted: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Predictions stay on the outputs' device until read: a GPU never waits for the host per batch."""
        self.predicted.append(outputs.argmax(dim=1).flatten())
        self.targets.append(targets.flatten())

    def classes(self) -> tuple[np.ndarray, np.ndarray]:
        """(predicted, target) class of every sample, int64, in scoring order."""
        if not self.predicted:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return tuple(torch.cat(parts).cpu().long().numpy() for parts in (self.predicted, self.targets))

    def statistics(self) -> np.ndarray:
        """(hit, 1) per sample."""
        predicted, targets = self.classes()
        hits = (predicted == targets).astype(np.float64)
        return np.stack([hits, np.ones_like(hits)], axis=1)

    def _require(self, stats: np.ndarray) -> np.ndarray:
        if not len(stats):
            raise ValueError("top1 of an empty split")
        return stats


def _check_batch(outputs_shape: torch.Size, targets_shape: torch.Size, what: str) -> None:
    """Refuse a prediction whose size differs from its target's: no silent resizing or broadcasting."""
    if outputs_shape != targets_shape:
        raise ValueError(f"{what}: prediction shape {tuple(outputs_shape)} != target shape {tuple(targets_shape)}")


class MeanIoU(Metric):
    """Mean intersection-over-union from one confusion matrix accumulated over the whole split.

    Unlike the original code (per-image, per-batch IoU; absent classes scored as 1), the pixels of
    every batch go into one C x C matrix (rows true class, columns predicted), so the score does not
    depend on batch size. Pixels whose target is `ignore_index` are left out. A class absent from
    both the targets and the predictions has no union and is excluded from the mean.
    """

    name = "miou"
    higher_is_better = True

    def __init__(self, num_classes: int, ignore_index: int = 255, binary_positive: int | None = None) -> None:
        if num_classes < 2:
            raise ValueError(f"miou needs at least 2 classes, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is one of the {num_classes} classes")
        if binary_positive is not None and (num_classes != 2 or binary_positive not in (0, 1)):
            raise ValueError(f"binary_positive {binary_positive} needs 2 classes and is 0 or 1")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.binary_positive = binary_positive
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.per_sample: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """outputs: (B, C, H, W) logits or (B, H, W) predicted labels; targets: (B, H, W) labels.
        With `binary_positive`, (B, 1, H, W) logits of a one-output head (the original's BCE heads)
        predict that class where positive and the other class elsewhere."""
        if self.binary_positive is not None and outputs.dim() == targets.dim() + 1 and outputs.shape[1] == 1:
            positive = outputs[:, 0] > 0
            outputs = torch.where(positive, self.binary_positive, 1 - self.binary_positive)
        if outputs.dim() == targets.dim() + 1:
            if outputs.shape[1] != self.num_classes:
                raise ValueError(f"miou: {outputs.shape[1]} output channels for {self.num_classes} classes")
            predicted = outputs.argmax(dim=1)
        else:
            predicted = outputs
        _check_batch(predicted.shape, targets.shape, "miou")
        keep = targets != self.ignore_index
        truth, predicted = targets[keep].long(), predicted[keep].long()
        for labels, role in ((truth, "target"), (predicted, "predicted")):
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(
                    f"miou: {role} label outside 0..{self.num_classes - 1} (and not ignore_index {self.ignore_index})"
                )
        cells = self.num_classes**2
        sample = torch.arange(len(targets), device=targets.device).view(-1, *[1] * (targets.dim() - 1))
        sample = sample.expand_as(targets)[keep]
        counts = (
            torch.bincount(sample * cells + truth * self.num_classes + predicted, minlength=len(targets) * cells)
            .reshape(len(targets), cells)
            .cpu()
        )
        self.per_sample.append(counts)
        self.confusion += counts.sum(dim=0).reshape(self.num_classes, self.num_classes)

    def per_class(self, confusion: torch.Tensor | None = None) -> torch.Tensor:
        """IoU of each class (float64, length C); NaN for a class absent from targets and predictions."""
        matrix = (self.confusion if confusion is None else confusion).double()
        true_positive = matrix.diagonal()
        union = matrix.sum(dim=0) + matrix.sum(dim=1) - true_positive
        return torch.where(union > 0, true_positive / union.clamp(min=1), torch.full_like(union, float("nan")))

    def statistics(self) -> np.ndarray:
        """Each image's confusion counts, flattened."""
        return _stacked(self.per_sample, self.num_classes**2)

    def _require(self, stats: np.ndarray) -> np.ndarray:
        if not stats.sum():
            raise ValueError(f"{self.name} of a split with no scored pixel")
        return stats


class ForegroundMeanIoU(MeanIoU):
    """MeanIoU over every class but 0 (EgoHands' four hands without background), as the original
    code skipped class 0; still one confusion matrix over the split, class 0 still predicted."""

    name = "miou_fg"


class PositiveIoU(Metric):
    """The original code's binary IoU: per image, IoU of the positive class with 1e-8 smoothing (an
    image with no positive pixel, true or predicted, scores 1), averaged over the images.

    The positive class is the set `positive` of target labels (Pets: background and the border);
    a one-output head predicts it where its logit is > 0, a C-class head where its arg-max is one
    of the positive labels below C.
    """

    name = "positive_iou"
    higher_is_better = True
    SMOOTH = 1e-8

    def __init__(self, positive: tuple[int, ...]) -> None:
        if not positive:
            raise ValueError("positive_iou needs the labels of the positive class")
        self.positive = tuple(positive)
        self.scores: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """outputs: (B, 1, H, W) logits, (B, C, H, W) logits or (B, H, W) labels; targets: (B, H, W)."""
        labels = torch.tensor(self.positive, device=targets.device)
        if outputs.dim() == targets.dim() + 1 and outputs.shape[1] == 1:
            predicted = outputs[:, 0] > 0
        else:
            classes = outputs.argmax(dim=1) if outputs.dim() == targets.dim() + 1 else outputs
            predicted = torch.isin(classes, labels)
        _check_batch(predicted.shape, targets.shape, "positive_iou")
        truth = torch.isin(targets, labels)
        intersection = (predicted & truth).flatten(1).sum(dim=1).double()
        union = (predicted | truth).flatten(1).sum(dim=1).double()
        self.scores.append(((intersection + self.SMOOTH) / (union + self.SMOOTH)).cpu())

    def statistics(self) -> np.ndarray:
        """(IoU, 1) per image."""
        scores = torch.cat(self.scores).double() if self.scores else torch.zeros(0, dtype=torch.float64)
        return torch.stack([scores, torch.ones_like(scores)], dim=1).numpy()

    def _require(self, stats: np.ndarray) -> np.ndarray:
        if not len(stats):
            raise ValueError("positive_iou of an empty split")
        return stats


DEFINITIONS = {
    "miou": "mean IoU over every class, one confusion matrix over the split",
    "miou_fg": "mean IoU over every class but 0 (background), one confusion matrix over the split",
    "positive_iou": "per-image IoU of the original code's positive class (1e-8 smoothing), mean over images",
}
"""What each class-map metric measures, recorded beside a secondary value."""


class WithSecondary(Metric):
    """A primary metric and others fed the same predictions: the score and interval are the primary's;
    `secondary()` gives the others' values, so one run records both protocols' definitions."""

    def __init__(self, primary: Metric, others: Mapping[str, Metric]) -> None:
        self.primary, self.others = primary, dict(others)
        self.name, self.higher_is_better = primary.name, primary.higher_is_better

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        for metric in (self.primary, *self.others.values()):
            metric.update(outputs, targets)

    def statistics(self) -> np.ndarray:
        return self.primary.statistics()

    def compute(self) -> float:
        return self.primary.compute()

    def interval(
        self, rounds: int = bootstrap.ROUNDS, level: float = bootstrap.LEVEL, seed: int = bootstrap.SEED
    ) -> tuple[float, float] | None:
        return self.primary.interval(rounds, level, seed)

    def secondary(self) -> dict[str, dict[str, object]]:
        """{name: {value, direction, definition}} of every secondary metric."""
        return {
            name: {
                "value": metric.compute(),
                "direction": "higher" if metric.higher_is_better else "lower",
                "definition": DEFINITIONS[name],
            }
            for name, metric in self.others.items()
        }


def depth_valid(depth: torch.Tensor) -> torch.Tensor:
    """Pixels with a usable ground-truth depth: the finite ones. Readers turn their datasets' own
    markers of a missing measurement into NaN (NYU's zero or negative depth, Taskonomy's 65535), so
    every finite value is real: THOR's depth 0 (its nearest 8-bit level), and the negative values
    of depth normalised about a mean (the virb protocol's THOR targets)."""
    return torch.isfinite(depth)


class NegativeL1(Metric):
    """Minus the mean absolute depth error over the valid pixels of the whole split, in the task's
    depth unit: metres for NYU and Taskonomy, the renderer's [0, 1] range for THOR (no metric scale).

    The original averaged L1 over all pixels, missing depth included, per batch; here the absolute
    errors of every valid pixel are summed and divided once by their count. Negated so that, like
    every metric of the benchmark, higher is better.
    """

    name = "neg_l1"
    higher_is_better = True

    def __init__(self) -> None:
        self.per_sample: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """outputs: (B, 1, H, W) or (B, H, W) depth; targets: (B, H, W) depth, in one unit.

        `mask` (B, H, W), when given, further restricts the scored pixels to where it is true.
        """
        if outputs.dim() == targets.dim() + 1 and outputs.shape[1] == 1:
            outputs = outputs.squeeze(1)
        _check_batch(outputs.shape, targets.shape, "neg_l1")
        valid = depth_valid(targets)
        if mask is not None:
            _check_batch(mask.shape, targets.shape, "neg_l1 mask")
            valid &= mask.bool()
        predicted = outputs[valid].double()
        if not bool(torch.isfinite(predicted).all()):
            raise ValueError("neg_l1: non-finite predicted depth at a valid pixel")
        errors = torch.where(valid, outputs.double() - targets.double(), 0.0).abs()
        per_sample = torch.stack([errors.flatten(1).sum(dim=1), valid.flatten(1).sum(dim=1).double()], dim=1)
        self.per_sample.append(per_sample.cpu())

    def statistics(self) -> np.ndarray:
        """(absolute error sum, valid pixels) per image."""
        return _stacked(self.per_sample, 2)

    def _require(self, stats: np.ndarray) -> np.ndarray:
        if not stats[:, 1].sum():
            raise ValueError("neg_l1 of a split with no valid depth pixel")
        return stats


class KittiFlowInlier(Metric):
    """1 - Fl-all, KITTI 2015's official flow score, on real (u, v) flow in pixels.

    A valid pixel is an outlier when its end-point error is > 3 px AND > 5% of the true flow's
    magnitude (the devkit's ABS_THRESH and REL_THRESH). Outliers and valid pixels are summed over
    all images before dividing (pixel-weighted, not a mean of per-image rates), as the devkit does.
    Reported as the inlier rate so that higher is better; the original code instead thresholded a
    grayscale flow visualization.

    Targets are either a mapping {"flow": (B, 2, H, W), "valid": (B, H, W)} or a (B, 3, H, W)
    tensor of (u, v, valid), at the full ground-truth resolution; the prediction must match it.
    """

    name = "kitti_fl"
    higher_is_better = True
    ABS_THRESH = 3.0
    REL_THRESH = 0.05

    def __init__(self) -> None:
        self.per_sample: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor | Mapping[str, torch.Tensor]) -> None:
        """outputs: (B, 2, H, W) predicted (u, v) flow in pixels."""
        if isinstance(targets, Mapping):
            flow, valid = targets["flow"], targets["valid"]
        else:
            if targets.dim() != 4 or targets.shape[1] != 3:
                raise ValueError(f"kitti_fl: tensor targets must be (B, 3, H, W), got {tuple(targets.shape)}")
            flow, valid = targets[:, :2], targets[:, 2]
        _check_batch(outputs.shape, flow.shape, "kitti_fl")
        if outputs.dim() != 4 or outputs.shape[1] != 2:
            raise ValueError(f"kitti_fl: predictions must be (B, 2, H, W), got {tuple(outputs.shape)}")
        _check_batch(valid.shape, flow[:, 0].shape, "kitti_fl valid mask")
        valid = valid != 0
        epe = (outputs.double() - flow.double()).norm(dim=1)
        magnitude = flow.double().norm(dim=1)
        outlier = valid & (epe > self.ABS_THRESH) & (epe > self.REL_THRESH * magnitude)
        per_sample = torch.stack(
            [
                outlier.flatten(1).sum(dim=1).double(),
                valid.flatten(1).sum(dim=1).double(),
                torch.where(valid, epe, 0.0).flatten(1).sum(dim=1),
            ],
            dim=1,
        )
        self.per_sample.append(per_sample.cpu())

    def statistics(self) -> np.ndarray:
        """(outlier pixels, valid pixels, end-point error sum) per image pair."""
        return _stacked(self.per_sample, 3)

    def _require(self, stats: np.ndarray) -> np.ndarray:
        if not stats[:, 1].sum():
            raise ValueError("kitti_fl of a split with no valid flow pixel")
        return stats

    def epe(self) -> float:
        """Mean end-point error in pixels over every valid pixel of the split (for reporting)."""
        sums = self._require(self.statistics()).sum(axis=0)
        return float(sums[2] / sums[1])


def _class_count(name: str, num_classes: int | None) -> int:
    if num_classes is None:
        raise ValueError(f"metric {name!r} needs the task's num_classes")
    return num_classes


def _mean_iou(kind: type[MeanIoU], name: str, num_classes: int | None, positive: tuple[int, ...]) -> MeanIoU:
    """A class-map mIoU; for a one-output (BCE) head, over the two classes of its labels, the
    positive one predicted where the logit is > 0."""
    classes = _class_count(name, num_classes)
    if classes > 1:
        return kind(classes)
    inside = [label for label in positive if label in (0, 1)]
    if len(inside) != 1:
        raise ValueError(f"metric {name!r} of a one-output head needs one positive label in 0..1, got {positive}")
    return kind(2, binary_positive=inside[0])


# name -> builder from the task's class count and positive labels (ignored by metrics that do not need them)
METRICS: dict[str, Callable[[int | None, tuple[int, ...]], Metric]] = {
    "top1": lambda num_classes, positive: Top1(),
    "miou": lambda num_classes, positive: _mean_iou(MeanIoU, "miou", num_classes, positive),
    "miou_fg": lambda num_classes, positive: _mean_iou(ForegroundMeanIoU, "miou_fg", num_classes, positive),
    "positive_iou": lambda num_classes, positive: PositiveIoU(positive),
    "neg_l1": lambda num_classes, positive: NegativeL1(),
    "kitti_fl": lambda num_classes, positive: KittiFlowInlier(),
}


def build_metric(
    name: str,
    num_classes: int | None = None,
    positive: tuple[int, ...] = (),
    secondary: tuple[str, ...] = (),
) -> Metric:
    """A fresh accumulator for one split; `num_classes` is required by class-wise metrics (miou),
    `positive` by positive_iou; with `secondary` names, a WithSecondary over them."""
    for metric in (name, *secondary):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    primary = METRICS[name](num_classes, tuple(positive))
    if not secondary:
        return primary
    return WithSecondary(primary, {other: METRICS[other](num_classes, tuple(positive)) for other in secondary})
