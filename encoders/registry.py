"""Encoders by source string to a frozen trunk plus a metadata record that travels into results.

A source is a checkpoint path or `random:SEED`. Named study encoders can later map names to
EncoderSpec fields (method, pretraining data) on top of load_encoder without changing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from encoders.checkpoints import load_backbone
from encoders.errors import UnknownEncoder
from encoders.fingerprints import fingerprint
from encoders.preprocess import Preprocessing
from encoders.study import pretrain_domain
from encoders.trunk import ResNet50Trunk

RANDOM_PREFIX = "random:"
RANDOM_FORMAT = "random"
_CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".torch", ".tar", ".safetensors", ".ckpt")


@dataclass(frozen=True)
class EncoderSpec:
    """Who an encoder is: its weights (by fingerprint), how inputs are prepared, how it was trained."""

    name: str
    source: str
    format: str
    fingerprint: str
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    method: str | None = None
    pretrain_data: str | None = None
    pretrain_images: int | None = None
    pretrain_epochs: int | None = None

    def metadata(self) -> dict[str, Any]:
        """JSON-able record copied into every result, so the leaderboard needs no encoder code (nor the
        study registry: pretrain_domain is looked up here, None when pretrain_data's domain is unknown)."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "format": self.format,
            "source": self.source,
            "method": self.method,
            "pretrain_data": self.pretrain_data,
            "pretrain_domain": pretrain_domain(self.pretrain_data),
            "pretrain_images": self.pretrain_images,
            "pretrain_epochs": self.pretrain_epochs,
            "mean": list(self.preprocessing.mean),
            "std": list(self.preprocessing.std),
        }


def load_encoder(
    source: str, name: str | None = None, trust: bool = False, key: str | None = None, prefix: str | None = None
) -> tuple[ResNet50Trunk, EncoderSpec]:
    """Build the frozen trunk for `source` (a checkpoint path or `random:SEED`) and its spec.

    `key` and `prefix` choose the checkpoint's container and layout where several hold a backbone.
    """
    if source.startswith(RANDOM_PREFIX):
        if key is not None or prefix is not None:
            raise UnknownEncoder(
                f"{source}: --key and --prefix choose part of a checkpoint file and a random "
                f"encoder has none; leave them out"
            )
        trunk = _random_trunk(source)
        fmt = RANDOM_FORMAT
    else:
        report = load_backbone(source, trust, key, prefix)
        trunk = ResNet50Trunk(report.state)
        fmt = report.format
    spec = EncoderSpec(
        name=name or default_name(source),
        source=source,
        format=fmt,
        fingerprint=fingerprint(trunk.state_dict()),
    )
    return trunk, spec


def default_name(source: str) -> str:
    """`random:SEED` as is, else the file name without its checkpoint suffix."""
    if source.startswith(RANDOM_PREFIX):
        return source
    filename = Path(source).name
    for suffix in _CHECKPOINT_SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return filename


def _random_trunk(source: str) -> ResNet50Trunk:
    """torchvision's random init under a fixed seed, leaving the caller's RNG state untouched."""
    seed = source[len(RANDOM_PREFIX) :]
    if not re.fullmatch(r"\d+", seed):
        raise UnknownEncoder(
            f"{source}: a random encoder is written random:SEED with a non-negative integer SEED, e.g. random:0"
        )
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        return ResNet50Trunk()
