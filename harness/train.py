"""Train a head on frozen features and choose its epoch on the validation split.

Features come from a `FeatureSource` (harness.sources): held in memory, streamed from the cache,
or the encoder run in the loop; all give the same batches for the same rows. Targets are class
labels or per-pixel maps (harness.targets); dense heads predict at the target's size, and on a GPU
train in bfloat16 autocast with channels-last maps. Image-level heads of every grid point and seed
train as one stacked module (`HeadStack`), so a step costs about what one head's does; on a GPU
the stacked step is replayed as a CUDA graph (harness.graphs), and harness.lockstep trains several
tasks' stacks in one loop.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional

from harness.graphs import GraphedStep
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


def make_optimizer(
    name: str, groups: list[dict], fused: bool = False, capturable: bool = False
) -> torch.optim.Optimizer:
    """PyTorch defaults otherwise, as the original code used (no momentum, no weight decay); `fused`:
    one kernel per step for all of a group's tensors (the same update, rounded differently);
    `capturable`: Adam's step count kept on the device, so a CUDA graph can hold the step."""
    options = {"fused": True} if fused else {}
    if name == "adam":
        return torch.optim.Adam(groups, capturable=capturable, **options)
    return torch.optim.SGD(groups, **options)


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
    return evaluate_outputs(
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


def evaluate_outputs(
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
    kernels per grid point whatever the number of heads, instead of a few per head (batch-32
    linear heads are launch-bound on a GPU).

    Heads sit in slots point-major: P grid points x L lanes, slot p * L + lane. A lane is a stream
    of batches: one seed of a task (harness.lockstep puts several tasks' seeds side by side). Each
    layer of a point's L heads is one (L, in, out) weight, its heads side by side, and one batched
    matmul in which each head reads its own lane's batch; each point's tensors are one parameter
    group of a torch optimiser with the point's learning rate (fused on a GPU). Weights are kept
    transposed from nn.Linear's (out, in): the layout a batched matmul's weight gradient comes out
    in, so no step transposes them. Heads with fewer classes than the widest are padded with zero
    output columns, masked out of the loss (their gradient is exactly zero, so they stay zero) and
    sliced off by `state` (callers of `forward` slice its logits).
    """

    def __init__(
        self, heads: Sequence[nn.Module], points: Sequence[GridPoint], lane_of: Sequence[int], device: str
    ) -> None:
        super().__init__()
        self.lanes = max(lane_of) + 1
        per_lane = [[k for k in range(len(heads)) if lane_of[k] == lane] for lane in range(self.lanes)]
        self.slots = [per_lane[lane][p] for p in range(len(per_lane[0])) for lane in range(self.lanes)]
        classes = [output_width(heads[per_lane[lane][0]]) for lane in range(self.lanes)]
        self.layers = [(name, isinstance(layer, nn.ReLU)) for name, layer in mlp_layers(heads[0])]
        self.names = list(heads[0].state_dict())
        states = [heads[k].state_dict() for k in self.slots]
        grid = [points[k] for k in per_lane[0]]
        weights = [
            torch.stack(
                [
                    self._padded(name, states[p * self.lanes + lane][name].t(), max(classes))
                    for lane in range(self.lanes)
                ]
            ).to(device)
            for p in range(len(grid))
            for name in self.names
        ]
        self._hold(grid, classes, weights)

    def _hold(self, points: Sequence[GridPoint], classes: Sequence[int], weights: Sequence[torch.Tensor]) -> None:
        """Take `weights` (P x names tensors, (L, ...) each) as the parameters of L lanes of
        `classes` classes; a mask of -inf on padded classes where lanes' widths differ."""
        self.points, self.classes, self.lanes = list(points), list(classes), len(classes)
        self.weights = nn.ParameterList(nn.Parameter(value) for value in weights)
        columns = torch.arange(max(classes), device=weights[0].device)
        padded = torch.stack([columns >= width for width in classes]).unsqueeze(1)
        self.mask = (
            None
            if len(set(classes)) == 1
            else torch.zeros(padded.shape, device=columns.device).masked_fill(padded, float("-inf"))
        )

    def _padded(self, name: str, value: torch.Tensor, width: int) -> torch.Tensor:
        """The last layer's (in, C) weight or (C,) bias padded with zero columns to `width`."""
        if not name.startswith(f"{self.layers[-1][0]}.") or value.shape[-1] == width:
            return value
        return functional.pad(value, (0, width - value.shape[-1]))

    @staticmethod
    def fits(heads: Sequence[nn.Module], points: Sequence[GridPoint], lane_of: Sequence[int], loss: str) -> bool:
        """Whether the heads can train as one stack: one image-level architecture (shapes equal up
        to the number of classes, and equal within a lane), a cross-entropy loss, and the same
        grid points in the same order in every lane."""
        if loss != "cross_entropy" or any(mlp_layers(head) is None for head in heads):
            return False
        grids = {tuple(point for point, lane in zip(points, lane_of) if lane == other) for other in set(lane_of)}
        widths = {(lane, output_width(head)) for head, lane in zip(heads, lane_of)}
        return len({architecture(head) for head in heads}) == 1 and len(grids) == 1 and len(widths) == len(set(lane_of))

    def parameter(self, point: int, name: str) -> nn.Parameter:
        """Parameter `name` of the point's L heads, (L, ...) with weights transposed."""
        return self.weights[point * len(self.names) + self.names.index(name)]

    def point_parameters(self, point: int) -> list[nn.Parameter]:
        return [self.parameter(point, name) for name in self.names]

    def forward(self, pooled: torch.Tensor, groups: int, lanes: slice = slice(None)) -> torch.Tensor:
        """Logits (K, B, C) in slot order from `groups` batches of pooled features, (groups * B, ...)
        rows: one batch per lane in training (groups = L), one all heads read in validation (1).
        `lanes`: only those lanes' heads (K = P x their count)."""
        count = len(range(self.lanes)[lanes])
        inputs = pooled.reshape(groups, -1, pooled[0].numel()).expand(count, -1, -1)
        logits = []
        for point in range(len(self.points)):
            x = inputs
            for name, relu in self.layers:
                if relu:
                    x = torch.relu(x)
                else:
                    x = torch.baddbmm(
                        self.parameter(point, f"{name}.bias")[lanes].unsqueeze(1),
                        x,
                        self.parameter(point, f"{name}.weight")[lanes],
                    )
            logits.append(x)
        return torch.cat(logits)

    def losses(self, pooled: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Every slot's cross-entropy on its lane's batch (L batches of B rows, labels (L * B,)):
        the batch mean, or with `weights` (L, B) the weighted mean (zero-weight rows pad a lane's
        short batch to B); padded classes are masked out."""
        logits = self(pooled, self.lanes)
        points = len(self.points)
        if self.mask is not None:
            logits = logits + self.mask.repeat(points, 1, 1)
        slots, batch, classes = logits.shape
        labels = labels.reshape(1, self.lanes, batch).expand(points, -1, -1).reshape(-1)
        each = functional.cross_entropy(logits.reshape(-1, classes).float(), labels, reduction="none")
        each = each.reshape(slots, batch)
        if weights is None:
            return each.mean(dim=1)
        weights = weights.repeat(points, 1)
        return (each * weights).sum(dim=1) / weights.sum(dim=1)

    def state(self, slot: int, weights: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """A slot's head as a state dict of its own architecture, from `weights` (the stack's own or
        a copy of them)."""
        point, lane = divmod(slot, self.lanes)
        last = f"{self.layers[-1][0]}."
        return {
            name: (
                weights[point * len(self.names) + index][lane][..., : self.classes[lane]]
                if name.startswith(last)
                else weights[point * len(self.names) + index][lane]
            )
            .t()
            .contiguous()
            for index, name in enumerate(self.names)
        }

    def narrow(self, index: int, value: torch.Tensor, lanes: Sequence[int]) -> torch.Tensor:
        """Tensor `value` shaped like weight `index` kept for `lanes` only, its padding cut to their
        widest head: how a stack sheds the lanes of tasks that finished (weights and optimiser state)."""
        value = value[list(lanes)]
        if self.names[index % len(self.names)].startswith(f"{self.layers[-1][0]}."):
            value = value[..., : max(self.classes[lane] for lane in lanes)]
        return value.clone()

    def without(self, lanes: Sequence[int], weights: Sequence[torch.Tensor]) -> HeadStack:
        """A stack of only `lanes` (in that order), from `weights` (this stack's or a copy) narrowed."""
        kept = HeadStack.__new__(HeadStack)
        nn.Module.__init__(kept)
        kept.layers, kept.names = self.layers, self.names
        kept.slots = list(range(len(self.points) * len(lanes)))
        narrowed = [self.narrow(index, value.detach(), lanes) for index, value in enumerate(weights)]
        kept._hold(self.points, [self.classes[lane] for lane in lanes], narrowed)
        return kept


def output_width(head: nn.Module) -> int:
    """An image-level head's number of classes (its last layer's outputs)."""
    return mlp_layers(head)[-1][1].out_features


def architecture(head: nn.Module) -> tuple:
    """What must match for heads to share a stack: type and parameter shapes, but for the number of
    classes (the stack pads it)."""
    return (type(head), tuple(layer.in_features for _, layer in mlp_layers(head) if isinstance(layer, nn.Linear)))


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


def stack_optimizers(stack: HeadStack, device: str) -> list[torch.optim.Optimizer]:
    """One torch optimiser per optimiser name, one parameter group per grid point; on a GPU fused
    (one kernel per step) and capturable, so a CUDA graph can hold the step."""
    cuda = torch.device(device).type == "cuda"
    return [
        make_optimizer(
            name,
            [
                {"params": stack.point_parameters(p), "lr": point.lr}
                for p, point in enumerate(stack.points)
                if point.optimizer == name
            ],
            fused=cuda,
            capturable=cuda,
        )
        for name in OPTIMIZERS
        if any(point.optimizer == name for point in stack.points)
    ]


def stacked_step(
    stack: HeadStack, optimizers: Sequence[torch.optim.Optimizer], device: str, bf16: bool = False
) -> GraphedStep:
    """The training step of every head in the stack on its lane's batch, (pooled, labels[, row
    weights]) -> each slot's loss on the device; on a GPU replayed as a CUDA graph once its
    shapes repeat. The one step code of single-task and cross-task training."""

    def step(pooled: torch.Tensor, labels: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        with head_kernels(device, bf16):
            losses = stack.losses(pooled, labels, *weights)
            losses.sum().backward()
        for optimizer in optimizers:
            optimizer.step()
        return losses.detach()

    return GraphedStep(step, device)


def keep_improved(stack: HeadStack, best: Sequence[torch.Tensor], improved: Sequence[bool]) -> None:
    """Copy the stack's weights into `best` for the slots (in slot order) that improved, on the
    device: one masked copy per parameter."""
    lanes = stack.lanes
    mask = torch.tensor(list(improved), device=best[0].device).reshape(-1, lanes)
    with torch.no_grad():
        for index, (kept, weight) in enumerate(zip(best, stack.weights)):
            chosen = mask[index // len(stack.names)].reshape(lanes, *(1,) * (weight.dim() - 1))
            kept.copy_(torch.where(chosen, weight, kept))


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
        self.train_step = stacked_step(self.stack, stack_optimizers(self.stack, device), device, config.bf16)
        self.slot_of = torch.tensor([self.stack.slots.index(k) for k in range(len(heads))], device=device)
        self.config, self.device = config, device
        self.best = [weight.detach().clone() for weight in self.stack.weights]

    def step(self, features: dict[str, torch.Tensor], expected: torch.Tensor, groups: int) -> torch.Tensor:
        return self.train_step(features["pool"], expected)[self.slot_of]

    def validate(self, source: FeatureSource, targets: Targets, rows: torch.Tensor) -> list[float]:
        config = self.config
        metrics = evaluate_outputs(
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
        keep_improved(self.stack, self.best, [improved[k] for k in self.stack.slots])

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
    epoch_rows: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None,
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

    `epoch_rows(samples, seed, epoch)` maps a seed's shuffled `train_rows` to the rows that epoch
    trains on (dense views: one of each image's K views, harness.view_schedule); by default the
    rows themselves.
    """
    seeds = list(seeds) if seeds is not None else [config.seed] * len(heads)
    if len(heads) != len(points) or len(heads) != len(seeds) or not heads:
        raise ValueError("train_grid needs one head, grid point and seed per head")
    distinct = list(dict.fromkeys(seeds))
    seed_of = [distinct.index(seed) for seed in seeds]
    kind = _StackedHeads if stack and HeadStack.fits(heads, points, seed_of, config.loss) else _ModuleHeads
    group = kind(heads, points, seed_of, config, device)
    targets, where = targets_beside(source, as_targets(targets))
    val_rows = val_rows.to(where)
    generators = [torch.Generator().manual_seed(seed) for seed in distinct]
    record = Record(len(heads))
    for epoch in range(1, config.epochs + 1):
        for head in group.heads:
            head.train()
        orders = epoch_order(train_rows, generators, where, epoch_rows, distinct, epoch)
        batches = [
            orders[:, start : start + config.batch_size].reshape(-1)
            for start in range(0, len(train_rows), config.batch_size)
        ]
        totals = torch.zeros(len(heads), device=device)
        for rows, features in zip(batches, source.batches(batches)):
            expected = targets.batch(rows).to(device, non_blocking=True)
            totals += group.step(features, expected, len(distinct)) * (len(rows) // len(distinct))
        group.keep(record.add(epoch, group.validate(source, targets, val_rows), totals.tolist(), len(train_rows)))
        if on_epoch is not None:
            on_epoch(epoch)
    return record.outcomes(points, group.finish())


def targets_beside(source: FeatureSource, targets: Targets) -> tuple[Targets, torch.device]:
    """Targets and where row indices live: labels beside the features (no host copy per step);
    per-pixel targets are read from host arrays, by host rows."""
    if isinstance(targets, LabelTargets):
        return LabelTargets(targets.labels.to(source.index_device)), source.index_device
    return targets, torch.device("cpu")


def epoch_order(
    train_rows: torch.Tensor,
    generators: Sequence[torch.Generator],
    where: torch.device,
    epoch_rows: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None,
    seeds: Sequence[int] = (),
    epoch: int = 0,
) -> torch.Tensor:
    """Each seed's shuffled training rows for the next epoch, (seeds, N): drawn from the seed's own
    generator alone, so a head sees the same batches in any company; `epoch_rows(rows, seed, epoch)`
    then maps them to the rows that epoch trains on (dense views: one of each image's K views)."""
    orders = [train_rows[torch.randperm(len(train_rows), generator=generator)] for generator in generators]
    if epoch_rows is not None:
        orders = [epoch_rows(rows, seed, epoch) for rows, seed in zip(orders, seeds)]
    return torch.stack(orders).to(where)


@dataclass
class Record:
    """Heads' validation curves, mean training losses and best epochs, kept epoch by epoch."""

    count: int
    best: list[tuple[int, float] | None] = field(default_factory=list)
    curves: list[list[float]] = field(default_factory=list)
    losses: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.best = [None] * self.count
        self.curves = [[] for _ in range(self.count)]
        self.losses = [[] for _ in range(self.count)]

    def add(self, epoch: int, scores: Sequence[float], totals: Sequence[float], rows: int) -> list[bool]:
        """One epoch's validation scores and summed training losses; which heads improved (ties
        keep the earliest epoch)."""
        improved = [self.best[k] is None or score > self.best[k][1] for k, score in enumerate(scores)]
        for k, (score, total) in enumerate(zip(scores, totals)):
            self.curves[k].append(score)
            self.losses[k].append(total / max(rows, 1))
            if improved[k]:
                self.best[k] = (epoch, score)
        return improved

    def outcomes(self, points: Sequence[GridPoint], states: Sequence[dict[str, torch.Tensor]]) -> list[TrainOutcome]:
        return [
            TrainOutcome(point, *mark, state, curve, loss)
            for point, mark, state, curve, loss in zip(points, self.best, states, self.curves, self.losses)
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
