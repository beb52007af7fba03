"""Train a head on frozen features and choose its epoch on the validation split.

Features come from a `FeatureSource`: cached features held in memory (the normal path) or the
encoder run in the loop on decoded images (the reference the cache must match). Both give the
same batches in the same order for the same seed, so their heads differ only by float16 rounding.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch
from torch import nn

from encoders import Preprocessing, ResNet50Trunk
from harness.metrics import build_metric
from tasks.readers import Reader

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": nn.functional.cross_entropy,
}


class FeatureSource(Protocol):
    """Rows of encoder features, addressed by image index."""

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]: ...


class InMemoryFeatures:
    """Cached blocks loaded once (float32, on the training device): epochs run at memory speed."""

    def __init__(self, blocks: dict[str, torch.Tensor], device: str = "cpu") -> None:
        self.blocks = {name: values.to(device=device, dtype=torch.float32) for name, values in blocks.items()}

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: values[rows.to(values.device)] for name, values in self.blocks.items()}


class EncoderFeatures:
    """The encoder in the loop: decode, preprocess and encode the requested images every time."""

    def __init__(self, trunk: ResNet50Trunk, reader: Reader, preprocessing: Preprocessing,
                 blocks: Sequence[str], device: str = "cpu") -> None:
        self.trunk, self.reader, self.preprocessing = trunk.to(device), reader, preprocessing
        self.blocks, self.device = tuple(blocks), device

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        images = torch.stack([self.preprocessing(self.reader.image(int(row))) for row in rows])
        return self.trunk(images.to(self.device), self.blocks)


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    loss: str
    metric: str
    seed: int = 0


@dataclass
class TrainOutcome:
    best_epoch: int
    best_val: float
    state: dict[str, torch.Tensor]
    val_curve: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """PyTorch defaults otherwise, as the original code used (no momentum, no weight decay)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, sgd")


def evaluate_head(head: nn.Module, source: FeatureSource, labels: torch.Tensor, rows: torch.Tensor,
                  metric: str, batch_size: int = 1024) -> float:
    """The metric over every one of `rows` (no partial batch dropped)."""
    accumulator = build_metric(metric)
    head.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            outputs = head(source.batch(chunk))
            accumulator.update(outputs, labels[chunk].to(outputs.device))
    return accumulator.compute()


def train_head(head: nn.Module, source: FeatureSource, labels: torch.Tensor, train_rows: torch.Tensor,
               val_rows: torch.Tensor, config: TrainConfig, device: str = "cpu",
               on_epoch: Callable[[int, float], None] | None = None) -> TrainOutcome:
    """Train for `config.epochs`, scoring validation after each; keep the best epoch's weights.

    Ties keep the earliest epoch. The batch order comes from `config.seed` alone.
    """
    head = head.to(device)
    loss_fn = LOSSES[config.loss]
    optimizer = make_optimizer(config.optimizer, head.parameters(), config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    best: TrainOutcome | None = None
    val_curve: list[float] = []
    losses: list[float] = []
    for epoch in range(1, config.epochs + 1):
        head.train()
        order = train_rows[torch.randperm(len(train_rows), generator=generator)]
        total, count = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            rows = order[start:start + config.batch_size]
            outputs = head(source.batch(rows))
            loss = loss_fn(outputs, labels[rows].to(outputs.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
            count += len(rows)
        losses.append(total / max(count, 1))
        score = evaluate_head(head, source, labels, val_rows, config.metric)
        val_curve.append(score)
        if best is None or score > best.best_val:
            best = TrainOutcome(epoch, score, copy.deepcopy(head.state_dict()))
        if on_epoch is not None:
            on_epoch(epoch, score)
    assert best is not None
    best.val_curve, best.train_loss = val_curve, losses
    head.load_state_dict(best.state)
    return best


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) row indices: `fraction` of each class to val, rounded, at least one per class with
    two or more samples, chosen by a fixed seed; rows come back sorted."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for cls in torch.unique(labels):
        rows = torch.nonzero(labels == cls).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        take = min(max(round(fraction * len(rows)), 1), len(rows) - 1)
        val.append(rows[:take])
        train.append(rows[take:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values
