"""Train a head on frozen features and choose its epoch on the validation split.

Features come from a `FeatureSource` (harness.sources): held in memory, streamed from the cache,
or the encoder run in the loop; all give the same batches for the same rows. Targets are class
labels or per-pixel maps (harness.targets); dense heads predict at the target's size, and on a GPU
train in bfloat16 autocast with channels-last maps. Image-level heads of every grid point and seed
train as one stacked module (`HeadStack`), so a step costs about what one head's does.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional

from harness.grid import GridPoint
from harness.heads import FusionHead, LinearHead
from harness.losses import build_loss
from harness.metrics import Metric, build_metric
from harness.sources import FeatureSource, precision
from harness.targets import LabelTargets, Targets, as_targets
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
    class_weights: tuple[float, ...] | None = None
    positive: tuple[int, ...] = ()


@dataclass
class TrainOutcome:
    """One grid point's run: its validation curve and the weights of its best epoch."""

    point: GridPoint
    best_epoch: int
    best_val: float
    state: dict[str, torch.Tensor]
    val_curve: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)


def make_optimizer(name: str, groups: list[dict], fused: bool = False) -> torch.optim.Optimizer:
    """PyTorch defaults otherwise, as the original code used (no momentum, no weight decay); `fused`:
    one kernel per step for all of a group's tensors (the same update, rounded differently)."""
    options = {"fused": True} if fused else {}
    return torch.optim.Adam(groups, **options) if name == "adam" else torch.optim.SGD(groups, **options)


def predict(head: nn.Module, features: dict[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """The head's output for a batch; per-pixel targets (any with more than one value per sample)
    set the output size, so a 513 crop or a full-resolution test map is matched exactly. On a GPU,
    feature maps go channels-last, the layout its convolution kernels run fastest on."""
    if targets.dim() == 1:
        return head(features)
    features = {
        name: values.contiguous(memory_format=torch.channels_last) if values.is_cuda and values.dim() == 4 else values
        for name, values in features.items()
    }
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
    return [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]


def evaluate_heads(
    heads: Sequence[nn.Module],
    source: FeatureSource,
    targets: Targets | torch.Tensor,
    rows: torch.Tensor,
    metric: str,
    num_classes: int | None = None,
    batch_size: int = 1024,
    bf16: bool = False,
    positive: tuple[int, ...] = (),
    secondary: tuple[str, ...] = (),
) -> list[Metric]:
    """Each head's metric accumulated over every one of `rows` (no partial batch dropped), with one
    feature pass for all heads; `positive` and `secondary` as build_metric takes them."""
    for head in heads:
        head.eval()
    return _evaluate(
        lambda features, expected: [predict(head, features, expected) for head in heads],
        len(heads),
        source,
        as_targets(targets),
        rows,
        metric,
        num_classes,
        batch_size,
        bf16,
        positive,
        secondary,
    )


def _evaluate(
    outputs: Callable[[dict[str, torch.Tensor], torch.Tensor], Sequence[torch.Tensor]],
    count: int,
    source: FeatureSource,
    targets: Targets,
    rows: torch.Tensor,
    metric: str,
    num_classes: int | None,
    batch_size: int,
    bf16: bool,
    positive: tuple[int, ...] = (),
    secondary: tuple[str, ...] = (),
) -> list[Metric]:
    """`count` heads' metrics, `outputs` giving every head's prediction for a batch."""
    accumulators = [build_metric(metric, num_classes, positive, secondary) for _ in range(count)]
    batches = row_batches(rows, batch_size)
    with torch.no_grad():
        for chunk, features in zip(batches, source.batches(batches)):
            expected = targets.batch(chunk)
            with head_kernels(str(next(iter(features.values())).device), bf16):
                predictions = outputs(features, expected)
            for prediction, accumulator in zip(predictions, accumulators):
                accumulator.update(prediction.float(), expected.to(prediction.device))
    return accumulators


def mlp_layers(head: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """An image-level head's layers by state-dict prefix (Linear layers, ReLU between), which a
    stack trains for many heads at once; None for any other head."""
    if isinstance(head, LinearHead):
        return [("fc", head.fc)]
    if isinstance(head, FusionHead):
        return [(f"mlp.{k}", layer) for k, layer in enumerate(head.mlp)]
    return None


class HeadStack(nn.Module):
    """Heads of one image-level architecture trained together as one module, so a step costs a few
    kernels per grid point whatever the number of seeds, instead of a few per head (batch-32
    linear heads are launch-bound on a GPU).

    Heads sit in slots point-major: P grid points x S seeds (distinct batch orders), slot p * S + s.
    Each layer of a point's S heads is one (S, in, out) weight, its heads side by side, and one
    batched matmul in which each head reads its own seed's batch; each point's tensors are one
    parameter group of a torch optimiser with the point's learning rate (fused on a GPU). Weights
    are kept transposed from nn.Linear's (out, in): the layout a batched matmul's weight gradient
    comes out in, so no step transposes them.
    """

    def __init__(
        self, heads: Sequence[nn.Module], points: Sequence[GridPoint], seed_of: Sequence[int], device: str
    ) -> None:
        super().__init__()
        self.seeds = max(seed_of) + 1
        per_seed = [[k for k in range(len(heads)) if seed_of[k] == seed] for seed in range(self.seeds)]
        self.slots = [per_seed[seed][p] for p in range(len(per_seed[0])) for seed in range(self.seeds)]
        self.points = [points[k] for k in per_seed[0]]
        self.layers = [(name, isinstance(layer, nn.ReLU)) for name, layer in mlp_layers(heads[0])]
        self.names = list(heads[0].state_dict())
        states = [heads[k].state_dict() for k in self.slots]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([states[p * self.seeds + s][name].t() for s in range(self.seeds)]).to(device))
            for p in range(len(self.points))
            for name in self.names
        )

    @staticmethod
    def fits(heads: Sequence[nn.Module], points: Sequence[GridPoint], seed_of: Sequence[int], loss: str) -> bool:
        """Whether the heads can train as one stack: one image-level architecture and shape, a
        cross-entropy loss, and the same grid points in the same order for every seed."""
        if loss != "cross_entropy" or any(mlp_layers(head) is None for head in heads):
            return False
        shapes = {
            (type(head), tuple((name, value.shape) for name, value in head.state_dict().items())) for head in heads
        }
        grids = {tuple(point for point, s in zip(points, seed_of) if s == seed) for seed in set(seed_of)}
        return len(shapes) == 1 and len(grids) == 1

    def parameter(self, point: int, name: str) -> nn.Parameter:
        """Parameter `name` of the point's S heads, (S, ...) with weights transposed."""
        return self.weights[point * len(self.names) + self.names.index(name)]

    def point_parameters(self, point: int) -> list[nn.Parameter]:
        return [self.parameter(point, name) for name in self.names]

    def forward(self, pooled: torch.Tensor, groups: int) -> torch.Tensor:
        """Logits (K, B, C) in slot order from `groups` batches of pooled features, (groups * B, ...)
        rows: one batch per seed in training (groups = S), one all heads read in validation (1)."""
        inputs = pooled.reshape(groups, -1, pooled[0].numel()).expand(self.seeds, -1, -1)
        logits = []
        for point in range(len(self.points)):
            x = inputs
            for name, relu in self.layers:
                if relu:
                    x = torch.relu(x)
                else:
                    x = torch.baddbmm(
                        self.parameter(point, f"{name}.bias").unsqueeze(1), x, self.parameter(point, f"{name}.weight")
                    )
            logits.append(x)
        return torch.cat(logits)

    def state(self, slot: int, weights: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """A slot's head as a state dict of its own architecture, from `weights` (the stack's own or
        a copy of them)."""
        point, seed = divmod(slot, self.seeds)
        return {
            name: weights[point * len(self.names) + index][seed].t().contiguous()
            for index, name in enumerate(self.names)
        }


class _ModuleHeads:
    """Heads trained as given (any architecture), each its own forward, one torch optimiser per
    optimiser name; dense heads train this way, and image-level heads when not stacked."""

    def __init__(
        self,
        heads: Sequence[nn.Module],
        points: Sequence[GridPoint],
        seed_of: Sequence[int],
        config: TrainConfig,
        device: str,
    ) -> None:
        layout = torch.channels_last if torch.device(device).type == "cuda" else torch.preserve_format
        self.heads = [head.to(device, memory_format=layout) for head in heads]
        self.seed_of, self.config, self.device = list(seed_of), config, device
        self.optimizers = [
            make_optimizer(
                name,
                [
                    {"params": head.parameters(), "lr": point.lr}
                    for head, point in zip(self.heads, points)
                    if point.optimizer == name
                ],
            )
            for name in OPTIMIZERS
            if any(point.optimizer == name for point in points)
        ]
        self.best: list[dict[str, torch.Tensor]] = [{} for _ in heads]

    def step(self, features: dict[str, torch.Tensor], expected: torch.Tensor, groups: int) -> torch.Tensor:
        """One step of every head on its seed's batch; the heads' losses, on the device."""
        loss_fn = build_loss(self.config.loss, self.config.class_weights, self.config.positive)
        features_of = [{name: values.chunk(groups)[g] for name, values in features.items()} for g in range(groups)]
        expected_of = expected.chunk(groups)
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        with head_kernels(self.device, self.config.bf16):
            losses = torch.stack(
                [
                    loss_fn(predict(head, features_of[g], expected_of[g]).float(), expected_of[g])
                    for head, g in zip(self.heads, self.seed_of)
                ]
            )
            losses.sum().backward()
        for optimizer in self.optimizers:
            optimizer.step()
        return losses.detach()

    def validate(self, source: FeatureSource, targets: Targets, rows: torch.Tensor) -> list[float]:
        config = self.config
        return [
            m.compute()
            for m in evaluate_heads(
                self.heads,
                source,
                targets,
                rows,
                config.metric,
                config.num_classes,
                config.eval_batch_size,
                config.bf16,
                config.positive,
            )
        ]

    def keep(self, improved: Sequence[bool]) -> None:
        for k, better in enumerate(improved):
            if better:
                self.best[k] = copy.deepcopy(self.heads[k].state_dict())

    def finish(self) -> list[dict[str, torch.Tensor]]:
        for head, state in zip(self.heads, self.best):
            head.load_state_dict(state)
        return self.best


class _StackedHeads:
    """Image-level heads trained as one HeadStack, each grid point's tensors a parameter group of
    its optimiser; at the end each head module gets its best epoch's weights, as if trained alone."""

    def __init__(
        self,
        heads: Sequence[nn.Module],
        points: Sequence[GridPoint],
        seed_of: Sequence[int],
        config: TrainConfig,
        device: str,
    ) -> None:
        self.heads = [head.to(device) for head in heads]
        self.stack = HeadStack(heads, points, seed_of, device)
        fused = torch.device(device).type == "cuda"
        self.optimizers = [
            make_optimizer(
                name,
                [
                    {"params": self.stack.point_parameters(p), "lr": point.lr}
                    for p, point in enumerate(self.stack.points)
                    if point.optimizer == name
                ],
                fused,
            )
            for name in OPTIMIZERS
            if any(point.optimizer == name for point in self.stack.points)
        ]
        self.slot_of = torch.tensor([self.stack.slots.index(k) for k in range(len(heads))], device=device)
        self.config, self.device = config, device
        self.best = [weight.detach().clone() for weight in self.stack.weights]

    def step(self, features: dict[str, torch.Tensor], expected: torch.Tensor, groups: int) -> torch.Tensor:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        with head_kernels(self.device, self.config.bf16):
            logits = self.stack(features["pool"], groups)
            slots, batch, classes = logits.shape
            labels = expected.reshape(1, groups, batch).expand(slots // groups, groups, batch).reshape(-1)
            losses = (
                functional.cross_entropy(logits.reshape(-1, classes).float(), labels, reduction="none")
                .reshape(slots, batch)
                .mean(dim=1)
            )
            losses.sum().backward()
        for optimizer in self.optimizers:
            optimizer.step()
        return losses.detach()[self.slot_of]

    def validate(self, source: FeatureSource, targets: Targets, rows: torch.Tensor) -> list[float]:
        config = self.config
        metrics = _evaluate(
            lambda features, expected: self.stack(features["pool"], 1)[self.slot_of].unbind(0),
            len(self.heads),
            source,
            targets,
            rows,
            config.metric,
            config.num_classes,
            config.eval_batch_size,
            config.bf16,
        )
        return [m.compute() for m in metrics]

    def keep(self, improved: Sequence[bool]) -> None:
        """Copy the improved heads' weights, on the device: one masked copy per parameter."""
        seeds = self.stack.seeds
        mask = torch.tensor([improved[k] for k in self.stack.slots], device=self.best[0].device).reshape(-1, seeds)
        with torch.no_grad():
            for index, (best, weight) in enumerate(zip(self.best, self.stack.weights)):
                chosen = mask[index // len(self.stack.names)].reshape(seeds, *(1,) * (weight.dim() - 1))
                best.copy_(torch.where(chosen, weight, best))

    def finish(self) -> list[dict[str, torch.Tensor]]:
        states = [self.stack.state(slot, self.best) for slot in self.slot_of.tolist()]
        for head, state in zip(self.heads, states):
            head.load_state_dict(state)
        return states


def train_grid(
    heads: Sequence[nn.Module],
    points: Sequence[GridPoint],
    source: FeatureSource,
    targets: Targets | torch.Tensor,
    train_rows: torch.Tensor,
    val_rows: torch.Tensor,
    config: TrainConfig,
    device: str = "cpu",
    on_epoch: Callable[[int], None] | None = None,
    seeds: Sequence[int] | None = None,
    stack: bool = True,
) -> list[TrainOutcome]:
    """Train one head per grid point together: each batch of features is fetched once and feeds
    every head, each with its own learning rate and optimiser state; validation scores every head
    after each epoch and each keeps its best epoch's weights (ties keep the earliest).

    `seeds` gives each head the seed of its batch order (default: `config.seed` for all): heads of
    several seeds train in lockstep, each on its own seed's batches, fetched together. The order
    comes from the seed alone, so a head gives the same result in any company as trained alone.
    Image-level heads train as one HeadStack (`stack=False`: each as its own module, the reference
    the stack is tested against). Losses are summed on the device and read once per epoch, so a
    GPU never waits for the host within an epoch.
    """
    seeds = list(seeds) if seeds is not None else [config.seed] * len(heads)
    if len(heads) != len(points) or len(heads) != len(seeds) or not heads:
        raise ValueError("train_grid needs one head, grid point and seed per head")
    distinct = list(dict.fromkeys(seeds))
    seed_of = [distinct.index(seed) for seed in seeds]
    kind = _StackedHeads if stack and HeadStack.fits(heads, points, seed_of, config.loss) else _ModuleHeads
    group = kind(heads, points, seed_of, config, device)
    targets = as_targets(targets)
    where = torch.device("cpu")  # per-pixel targets are read from host arrays, by host rows
    if isinstance(targets, LabelTargets):  # labels and rows beside the features: no host copy per step
        where = source.index_device
        targets = LabelTargets(targets.labels.to(where))
    val_rows = val_rows.to(where)
    generators = [torch.Generator().manual_seed(seed) for seed in distinct]
    best: list[tuple[int, float] | None] = [None] * len(heads)
    curves: list[list[float]] = [[] for _ in heads]
    losses: list[list[float]] = [[] for _ in heads]
    for epoch in range(1, config.epochs + 1):
        for head in group.heads:
            head.train()
        orders = torch.stack(
            [train_rows[torch.randperm(len(train_rows), generator=generator)] for generator in generators]
        ).to(where)
        batches = [
            orders[:, start : start + config.batch_size].reshape(-1)
            for start in range(0, len(train_rows), config.batch_size)
        ]
        totals = torch.zeros(len(heads), device=device)
        for rows, features in zip(batches, source.batches(batches)):
            expected = targets.batch(rows).to(device, non_blocking=True)
            totals += group.step(features, expected, len(distinct)) * (len(rows) // len(distinct))
        scores = group.validate(source, targets, val_rows)
        improved = [best[k] is None or score > best[k][1] for k, score in enumerate(scores)]
        for k, (score, total) in enumerate(zip(scores, totals.tolist())):
            curves[k].append(score)
            losses[k].append(total / max(len(train_rows), 1))
            if improved[k]:
                best[k] = (epoch, score)
        group.keep(improved)
        if on_epoch is not None:
            on_epoch(epoch)
    states = group.finish()
    return [
        TrainOutcome(point, *mark, state, curve, loss)
        for point, mark, state, curve, loss in zip(points, best, states, curves, losses)
    ]


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
