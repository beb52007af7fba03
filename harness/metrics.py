"""Metrics accumulated over a whole split, each with its direction (never averaged per batch)."""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Metric(ABC):
    """update() with each batch's outputs and targets, then compute() once for the split."""

    name: str
    higher_is_better: bool

    @abstractmethod
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None: ...

    @abstractmethod
    def compute(self) -> float: ...


class Top1(Metric):
    """Fraction of samples whose arg-max class equals the target, over every sample of the split."""

    name = "top1"
    higher_is_better = True

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.correct += int((outputs.argmax(dim=1) == targets).sum())
        self.total += int(targets.numel())

    def compute(self) -> float:
        if self.total == 0:
            raise ValueError("top1 of an empty split")
        return self.correct / self.total


METRICS: dict[str, type[Metric]] = {"top1": Top1}


def build_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}")
    return METRICS[name]()
