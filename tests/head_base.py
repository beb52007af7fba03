"""Conformance suite every dense head's tests subclass (as zarr's StoreTests): a subclass names the
head and its inputs, the base feeds it feature dicts shaped exactly as the cache stores them
(`block_shape`) and checks the contract the trainer relies on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from encoders import block_shape, get_block

SIZES: tuple[tuple[int, int], ...] = ((64, 64), (65, 65), (96, 96), (64, 96))
"""Exact halving, odd sizes that round up at every stage, and a non-square input."""


@contextmanager
def native_conv_kernels() -> Iterator[None]:
    """Turn oneDNN off for a backward pass: its CPU weight gradient for the 2048->4096 conv on a
    2x3 map takes ~10 s on two cores against ~0.3 s for the native kernel; the maths is the same.
    (torch.backends.mkldnn.flags would do this but warns about TF32 on every use.)"""
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


class HeadTests:
    HEAD: Callable[[], nn.Module]
    """Builds the head under test, e.g. functools.partial(UNetHead, 1)."""
    INPUT_BLOCKS: tuple[str, ...]
    FRAMES: int = 1
    OUT: int
    BATCH = 2
    """Two samples, so BatchNorm can take batch statistics in training mode."""

    @classmethod
    def build(cls, seed: int = 0) -> nn.Module:
        """The head initialised from `seed` alone, leaving the global RNG untouched."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls.HEAD()

    @pytest.fixture(scope="class")
    @classmethod
    def head(cls) -> Iterator[nn.Module]:
        """One head per class: the U-Nets hold ~100M parameters and take seconds to build."""
        yield cls.build()

    def features(self, size: tuple[int, int], seed: int = 0) -> dict[str, torch.Tensor]:
        """Random features with the cache's exact shapes for an input of `size`, declared blocks only."""
        generator = torch.Generator().manual_seed(seed)
        lead = (self.BATCH, self.FRAMES) if self.FRAMES > 1 else (self.BATCH,)
        return {name: torch.randn(*lead, *block_shape(name, size), generator=generator) for name in self.INPUT_BLOCKS}

    def expected_shape(self, name: str, size: tuple[int, int]) -> tuple[int, ...]:
        lead = (self.BATCH, self.FRAMES) if self.FRAMES > 1 else (self.BATCH,)
        return (*lead, *block_shape(name, size))

    def test_declares_its_blocks(self, head: nn.Module) -> None:
        assert tuple(head.blocks) == self.INPUT_BLOCKS

    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_output_at_input_size(self, head: nn.Module, size: tuple[int, int]) -> None:
        """Only the declared blocks are passed, so this also shows the head reads nothing else."""
        with torch.no_grad():
            out = head(self.features(size), out_size=size)
        assert out.shape == (self.BATCH, self.OUT, *size)
        assert torch.isfinite(out).all()

    def test_default_output_covers_the_input(self, head: nn.Module) -> None:
        """Without out_size the output is the finest block's grid scaled back up by its stride: the
        input rounded up to a multiple of that stride (66x100 or 68x100 for 65x97)."""
        finest = min(self.INPUT_BLOCKS, key=lambda name: get_block(name).stride)
        stride = get_block(finest).stride
        _, height, width = block_shape(finest, (65, 97))
        with torch.no_grad():
            out = head(self.features((65, 97)))
        assert out.shape == (self.BATCH, self.OUT, stride * height, stride * width)

    def test_reads_only_declared_blocks(self, head: nn.Module) -> None:
        """A dict that records lookups: the head may touch only what `blocks` names."""

        class Recording(dict):
            def __init__(self, items: dict[str, torch.Tensor]) -> None:
                super().__init__(items)
                self.read: set[str] = set()

            def __getitem__(self, key: str) -> torch.Tensor:
                self.read.add(key)
                return super().__getitem__(key)

        features = Recording(self.features((64, 64)))
        with torch.no_grad():
            head(features, out_size=(64, 64))
        assert features.read == set(head.blocks)

    def test_gradients_reach_every_parameter(self, head: nn.Module) -> None:
        head.zero_grad(set_to_none=True)
        with native_conv_kernels():
            out = head(self.features((64, 96)), out_size=(64, 96))
            (out * torch.randn_like(out)).sum().backward()
        silent = [name for name, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        head.zero_grad(set_to_none=True)
        assert silent == []

    def test_init_is_deterministic_under_a_seed(self, head: nn.Module) -> None:
        """The class head is built with seed 0 and never stepped, so a second seed-0 build must match it."""
        again = type(self).build(seed=0)
        for (name, p), (_, q) in zip(head.named_parameters(), again.named_parameters(), strict=True):
            assert torch.equal(p, q), name

    def test_missing_block_is_named(self, head: nn.Module) -> None:
        features = self.features((64, 64))
        dropped = self.INPUT_BLOCKS[-1]
        del features[dropped]
        with pytest.raises(ValueError, match=f"missing {dropped}"):
            head(features)

    @pytest.mark.parametrize("where", ["channels", "spatial"])
    def test_wrong_shape_names_block_and_expected_shape(self, head: nn.Module, where: str) -> None:
        """A mis-shaped block must fail up front with its name and expected shape, not inside a conv."""
        size = (64, 64)
        features = self.features(size)
        name = self.INPUT_BLOCKS[0]
        features[name] = features[name][..., 1:, :, :] if where == "channels" else features[name][..., :-1]
        with pytest.raises(ValueError) as error:
            head(features)
        assert repr(name) in str(error.value)
        assert str(self.expected_shape(name, size)) in str(error.value)

    def test_wrong_frame_layout_is_refused(self, head: nn.Module) -> None:
        """Single-frame maps given to a two-frame head, or the reverse, fail on rank with the layout."""
        features = {
            name: value[:, 0] if self.FRAMES > 1 else value[:, None] for name, value in self.features((64, 64)).items()
        }
        with pytest.raises(ValueError, match=r"must be \(B, "):
            head(features)
