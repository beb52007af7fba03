"""Heads trained on frozen features, sized from the encoder's block table (docs/PROTOCOL.md section 3);
the dense decoders live in harness.decoders and are built here by name too."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from encoders import get_block
from harness.decoders import DeepLabV3PlusHead, DeepLabV3PlusVirbHead, SiameseUNetHead, UNetHead
from tasks.spec import HEAD_BLOCKS


class LinearHead(nn.Module):
    """Linear(2048, C) on the pooled vector: the image-level probe."""

    blocks = HEAD_BLOCKS["linear"]

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(get_block("pool").channels, num_classes)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fc(features["pool"])


class FusionHead(nn.Module):
    """Multi-frame fusion: the N frames' pooled vectors concatenated in time order ->
    Linear(N*2048, 512) -> ReLU -> Linear(512, C) (the original MultiEmbeddingClassificationHead)."""

    blocks = HEAD_BLOCKS["fusion"]
    hidden = 512

    def __init__(self, num_classes: int, frames: int) -> None:
        super().__init__()
        width = get_block("pool").channels
        self.frames = frames
        self.mlp = nn.Sequential(nn.Linear(frames * width, self.hidden), nn.ReLU(), nn.Linear(self.hidden, num_classes))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        pooled = features["pool"]
        if pooled.ndim != 3 or pooled.shape[1] != self.frames:
            raise ValueError(f"fusion head expects (B, {self.frames}, C) frame features, got {tuple(pooled.shape)}")
        return self.mlp(pooled.flatten(1))


class Standardized(nn.Module):
    """A regression head whose raw output is in units of the training targets' spread about their
    mean (per channel): predictions start at the mean depth or flow instead of zero, so a head for
    depths of 2-10 m does not spend thousands of steps moving its last bias; the loss and the metric
    still see metres or pixels. Mean and spread are buffers, saved with the head."""

    def __init__(self, head: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.head = head
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).clone())

    def forward(self, features: dict[str, torch.Tensor], out_size: tuple[int, int] | None = None) -> torch.Tensor:
        return self.head(features, out_size) * self.std + self.mean


HEADS: dict[str, Callable[..., nn.Module]] = {
    "linear": lambda num_classes, frames, layer4: LinearHead(num_classes),
    "fusion": lambda num_classes, frames, layer4: FusionHead(num_classes, frames),
    "unet": lambda outputs, frames, layer4: UNetHead(outputs),
    "siamese_unet": lambda outputs, frames, layer4: SiameseUNetHead(outputs),
    "deeplabv3plus": lambda outputs, frames, layer4: DeepLabV3PlusHead(outputs),
    "deeplabv3plus_virb": lambda outputs, frames, layer4: DeepLabV3PlusVirbHead(outputs, layer4),
}
ENCODER_INITIALISED = ("deeplabv3plus_virb",)
"""Heads that start from a copy of the encoder's layer4 weights (the prepared task passes them)."""


def build_head(
    name: str,
    num_outputs: int,
    seed: int,
    frames: int = 1,
    layer4: Mapping[str, torch.Tensor] | None = None,
) -> nn.Module:
    """A head initialised from `seed` alone, leaving the global RNG untouched; `layer4` (the
    encoder's layer4 state) initialises the heads of ENCODER_INITIALISED."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid: {', '.join(HEADS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HEADS[name](num_outputs, frames, layer4)
