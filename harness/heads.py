"""Heads trained on frozen features, sized from the encoder's block table (PROTOCOL.md section 3)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from encoders import get_block


class LinearHead(nn.Module):
    """Linear(2048, C) on the pooled vector: the image-level probe."""

    blocks = ("pool",)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(get_block("pool").channels, num_classes)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fc(features["pool"])


HEADS: dict[str, Callable[[int], nn.Module]] = {"linear": LinearHead}


def build_head(name: str, num_outputs: int, seed: int) -> nn.Module:
    """A head initialised from `seed` alone, leaving the global RNG untouched."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid: {', '.join(HEADS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HEADS[name](num_outputs)
