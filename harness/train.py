"""Train a head on frozen features and choose its epoch on the validation split.

Features come from a `FeatureSource` (harness.sources): held in memory, streamed from the cache,
or the encoder run in the loop; all give the same batches for the same rows. Targets are class labels or per-pixel maps (harness.targets); dense heads predict at the target's
size, and on a GPU train in bfloat16 autocast with channels-last maps.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from harness.grid import GridPoint
from harness.losses import LOSSES
from harness.metrics import Metric, build_metric
from harness.sources import FeatureSource, precision
from harness.targets import Targets, as_targets
from tasks.spec import OPTIMIZERS


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int
    epochs: int
    loss: str
    metric: str
    seed: int = 0
    num_classes: int | None = None
    bf16: bool = False
    eval_batch_size: int = 1024


@dataclass
class TrainOutcome:
    """One grid point's run: its validation curve and the weights of its best epoch."""

    point: GridPoint
    best_epoch: int
    best_val: float
    state: dict[str, torch.Tensor]
    val_curve: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)


def make_optimizer(name: str, groups: list[dict]) -> torch.optim.Optimizer:
    """PyTorch defaults otherwise, as the original code used (no momentum, no weight decay)."""
    return torch.optim.Adam(groups) if name == "adam" else torch.optim.SGD(groups)


def predict(head: nn.Module, features: dict[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """The head's output for a batch; per-pixel targets (any with more than one value per sample)
    set the output size, so a 513 crop or a full-resolution test map is matched exactly. On a GPU,
    feature maps go channels-last, the layout its convolution kernels run fastest on."""
    if targets.dim() == 1:
        return head(features)
    features = {name: values.contiguous(memory_format=torch.channels_last) if values.is_cuda and values.dim() == 4
                else values for name, values in features.items()}
    return head(features, out_size=tuple(targets.shape[-2:]))


@contextlib.contextmanager
def head_kernels(device: str, bf16: bool) -> Iterator[None]:
    """How a head computes: `precision`, and on a CPU PyTorch's native convolutions instead of
    oneDNN's, whose weight gradient for the decoders' wide convs on small maps is 5-30 times slower
    on two cores (same maths). Never used around the encoder, which oneDNN speeds up."""
    cpu = torch.device(device).type == "cpu"
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = previous and not cpu
    try:
        with precision(device, bf16):
            yield
    finally:
        torch.backends.mkldnn.enabled = previous


def row_batches(rows: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]


def evaluate_heads(heads: Sequence[nn.Module], source: FeatureSource, targets: Targets | torch.Tensor, rows: torch.Tensor,
                   metric: str, num_classes: int | None = None, batch_size: int = 1024,
                   bf16: bool = False) -> list[Metric]:
    """Each head's metric accumulated over every one of `rows` (no partial batch dropped), with one
    feature pass for all heads."""
    targets = as_targets(targets)
    accumulators = [build_metric(metric, num_classes) for _ in heads]
    for head in heads:
        head.eval()
    batches = row_batches(rows, batch_size)
    with torch.no_grad():
        for chunk, features in zip(batches, source.batches(batches)):
            expected = targets.batch(chunk)
            for head, accumulator in zip(heads, accumulators):
                with head_kernels(str(next(iter(features.values())).device), bf16):
                    outputs = predict(head, features, expected)
                accumulator.update(outputs.float(), expected.to(outputs.device))
    return accumulators


def train_grid(heads: Sequence[nn.Module], points: Sequence[GridPoint], source: FeatureSource,
               targets: Targets | torch.Tensor, train_rows: torch.Tensor, val_rows: torch.Tensor, config: TrainConfig,
               device: str = "cpu", on_epoch: Callable[[int], None] | None = None) -> list[TrainOutcome]:
    """Train one head per grid point together: each batch of features is fetched once and feeds
    every head, each with its own learning rate and optimiser state; validation scores every head
    after each epoch and each keeps its best epoch's weights (ties keep the earliest).

    The batch order comes from `config.seed` alone, so a point trained in a grid gives the same
    result as the point trained alone.
    """
    if len(heads) != len(points) or not heads:
        raise ValueError("train_grid needs one head per grid point")
    layout = torch.channels_last if torch.device(device).type == "cuda" else torch.preserve_format
    heads = [head.to(device, memory_format=layout) for head in heads]
    targets = as_targets(targets)
    loss_fn = LOSSES[config.loss]
    optimizers = [make_optimizer(name, [{"params": head.parameters(), "lr": point.lr}
                                        for head, point in zip(heads, points) if point.optimizer == name])
                  for name in OPTIMIZERS if any(point.optimizer == name for point in points)]
    generator = torch.Generator().manual_seed(config.seed)
    outcomes: list[TrainOutcome | None] = [None] * len(heads)
    curves: list[list[float]] = [[] for _ in heads]
    losses: list[list[float]] = [[] for _ in heads]
    for epoch in range(1, config.epochs + 1):
        for head in heads:
            head.train()
        order = train_rows[torch.randperm(len(train_rows), generator=generator)]
        totals = torch.zeros(len(heads))
        batches = row_batches(order, config.batch_size)
        for rows, features in zip(batches, source.batches(batches)):
            expected = targets.batch(rows).to(device)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            with head_kernels(device, config.bf16):
                outputs = [predict(head, features, expected) for head in heads]
                batch_losses = [loss_fn(output.float(), expected) for output in outputs]
                torch.stack(batch_losses).sum().backward()
            for optimizer in optimizers:
                optimizer.step()
            totals += torch.stack([loss.detach().cpu() for loss in batch_losses]) * len(rows)
        scores = [m.compute() for m in evaluate_heads(heads, source, targets, val_rows, config.metric,
                                                      config.num_classes, config.eval_batch_size, config.bf16)]
        for k, (head, score) in enumerate(zip(heads, scores)):
            curves[k].append(score)
            losses[k].append(float(totals[k]) / max(len(order), 1))
            if outcomes[k] is None or score > outcomes[k].best_val:
                outcomes[k] = TrainOutcome(points[k], epoch, score, copy.deepcopy(head.state_dict()))
        if on_epoch is not None:
            on_epoch(epoch)
    finished = []
    for head, outcome, curve, loss in zip(heads, outcomes, curves, losses):
        assert outcome is not None
        outcome.val_curve, outcome.train_loss = curve, loss
        head.load_state_dict(outcome.state)
        finished.append(outcome)
    return finished


def select(outcomes: Sequence[TrainOutcome]) -> int:
    """The grid point with the best validation score (the first listed on ties)."""
    return max(range(len(outcomes)), key=lambda k: (outcomes[k].best_val, -k))


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
