"""A content hash of the backbone weights: the same weights in any container give one fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

from encoders.canonical import backbone_shapes, is_counter


def fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 hex over every canonical backbone tensor (batch counters and fc left out).

    Keys are sorted and each tensor is hashed as float32 on CPU, so the file's layout, key order
    and device never change the result; the key and shape go in too, so no two tensors can swap.
    """
    weight_keys = sorted(key for key in backbone_shapes() if not is_counter(key))
    absent = [key for key in weight_keys if key not in state]
    if absent:
        raise ValueError(f"fingerprint needs every backbone tensor; absent: {', '.join(absent[:8])}")
    digest = hashlib.sha256()
    for key in weight_keys:
        tensor = state[key].detach().to(device="cpu", dtype=torch.float32).contiguous()
        digest.update(f"{key}\0{list(tensor.shape)}\0".encode())
        digest.update(tensor.numpy())
    return digest.hexdigest()
