"""How extraction computes the encoder: float32, or bfloat16 autocast with channels-last layout.

The name enters every cache key (`CacheKey.compute`), so stores of the two never mix, and a result
records it (docs/PROTOCOL.md §4). Features are stored as float16 either way.
"""

from __future__ import annotations

import contextlib

import torch

FP32, BF16_CL = "fp32", "bf16-cl"
CHOICES = {"fp32": FP32, "bf16": BF16_CL}
"""What `--compute` names (besides `auto`) -> the name the cache key records."""


def default_compute(device: str) -> str:
    """bf16-cl on a CUDA device with bfloat16, where it is the encoder's fast path; fp32 elsewhere:
    on CPUs without bfloat16 instructions bf16 autocast is several times slower (bench/README.md),
    and fp32 is the protocol's reference precision, so on the CPU bf16 stays a choice
    (`--compute bf16`), recorded as an override."""
    cuda = torch.device(device).type == "cuda"
    return BF16_CL if cuda and torch.cuda.is_bf16_supported() else FP32


def resolve_compute(choice: str, device: str) -> str:
    """`auto` -> `default_compute(device)`; `fp32` / `bf16` -> the name the cache key records."""
    if choice == "auto":
        return default_compute(device)
    if choice not in CHOICES:
        raise ValueError(f"unknown compute {choice!r}; valid values are auto, {', '.join(CHOICES)}")
    return CHOICES[choice]


def autocast(compute: str, device: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for bf16-cl (on the CPU as on CUDA), nothing for fp32."""
    if compute == BF16_CL:
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(compute: str) -> torch.memory_format:
    """channels-last for bf16-cl (what bf16 convolutions run fastest in), the default layout for fp32."""
    return torch.channels_last if compute == BF16_CL else torch.contiguous_format
