"""Frozen ResNet-50 encoders: checkpoint reading, block geometry, trunk, preprocessing, registry.

Names are resolved on first use (PEP 562), so importing the pure-geometry `encoders.blocks`, as the
command-line parser does, does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "encoders.blocks": ("BLOCKS", "BLOCK_NAMES", "Block", "block_shape", "get_block"),
    "encoders.checkpoints": ("FORMATS", "TOP", "Candidate", "CheckpointReport", "load_backbone", "read_checkpoint"),
    "encoders.errors": (
        "AmbiguousCheckpoint",
        "CheckpointMismatch",
        "CheckpointNotFound",
        "CheckpointUnreadable",
        "EncoderError",
        "NonFiniteWeights",
        "UnknownEncoder",
        "UnsafeCheckpoint",
    ),
    "encoders.fingerprints": ("fingerprint",),
    "encoders.preprocess": ("Preprocessing",),
    "encoders.registry": ("EncoderSpec", "load_encoder"),
    "encoders.study": ("MIXED", "PRETRAIN_DOMAINS", "STUDY", "StudyEncoder", "pretrain_domain", "study_encoder"),
    "encoders.trunk": ("ResNet50Trunk",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'encoders' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
