"""A training step replayed as a CUDA graph when its inputs keep their shape.

A stacked head's step (forward, loss, backward, optimiser) is a few dozen small kernels whose
launches, not their arithmetic, bound it on a GPU; captured once, a step is one graph launch. The
same function runs eagerly on a CPU, before capture and for any other shape, so CPU tests cover
its arithmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

log = logging.getLogger("ccbench")

WARMUP_STEPS = 3
"""Eager steps before capture, on a side stream as torch requires (cuBLAS workspaces and the
optimiser's state are allocated there); they are real training steps."""


class GraphedStep:
    """`step(*inputs)` -> a tensor, run as given on a CPU; on a CUDA device the first shape of
    inputs is captured after WARMUP_STEPS eager calls and replayed from then on, its inputs copied
    into the captured ones. `step` must set the gradients to None itself (so the captured backward
    writes them rather than adding to them) and must not read tensor values on the host.
    Any other shape (the last partial batch of an epoch) runs eagerly."""

    def __init__(self, step: Callable[..., torch.Tensor], device: str) -> None:
        self.step = step
        self.enabled = torch.device(device).type == "cuda"
        self.calls = 0
        self.shape: tuple[tuple[int, ...], ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, ...] = ()
        self.output: torch.Tensor | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        shape = tuple(tuple(value.shape) for value in inputs)
        if not self.enabled or (self.shape is not None and shape != self.shape):
            return self.step(*inputs)
        self.shape = shape
        if self.graph is not None:
            for static, value in zip(self.inputs, inputs):
                static.copy_(value, non_blocking=True)
            self.graph.replay()
            return self.output.clone()
        self.calls += 1
        if self.calls <= WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                output = self.step(*inputs)
            torch.cuda.current_stream().wait_stream(side)
            return output
        self.inputs = tuple(value.clone() for value in inputs)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.output = self.step(*self.inputs)
        except RuntimeError as error:  # a step this torch cannot capture still trains, eagerly
            log.warning(
                "ccbench: warning: the training step could not be captured as a CUDA graph (%s); running it eagerly",
                str(error).splitlines()[0],
            )
            self.enabled, self.output = False, None
            return self.step(*inputs)
        self.graph = graph
        self.graph.replay()  # capture records the step without running it
        return self.output.clone()
