"""Block geometry of the ResNet-50 trunk as one table, so caches, heads and skips size from one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One feature block: channels, and stride in input pixels (None for the global pool)."""

    name: str
    channels: int
    stride: int | None


BLOCKS: tuple[Block, ...] = (
    Block("stem", 64, 2),
    Block("layer1", 256, 4),
    Block("layer2", 512, 8),
    Block("layer3", 1024, 16),
    Block("layer4", 2048, 32),
    Block("pool", 2048, None),
)

BLOCK_NAMES: tuple[str, ...] = tuple(block.name for block in BLOCKS)


def _validate(blocks: tuple[Block, ...]) -> None:
    """Refuse a table that would size arrays wrongly: block_shape relies on every rule checked here."""
    if len({block.name for block in blocks}) != len(blocks):
        raise ValueError("BLOCKS: block names must be unique")
    if any(block.channels <= 0 for block in blocks):
        raise ValueError("BLOCKS: every block needs a positive channel count")
    strides = [block.stride for block in blocks if block.stride is not None]
    if any(stride <= 0 or stride & (stride - 1) for stride in strides):
        raise ValueError("BLOCKS: strides must be powers of two (each stage halves the map)")
    if any(later <= earlier for earlier, later in zip(strides, strides[1:])):
        raise ValueError("BLOCKS: strides must increase with depth")


_validate(BLOCKS)


def get_block(name: str) -> Block:
    """The block called `name`; an unknown name lists the valid ones."""
    for block in BLOCKS:
        if block.name == name:
            return block
    raise ValueError(f"unknown block {name!r}; valid blocks are {', '.join(BLOCK_NAMES)}")


def block_shape(name: str, image_size: tuple[int, int]) -> tuple[int, ...]:
    """(C, H, W) of a spatial block for an (H, W) input, or (C,) for the pool.

    Every stride-2 stage of ResNet-50 (7x7 conv pad 3, 3x3 max-pool pad 1, 3x3 conv pad 1, 1x1
    shortcut) maps a side n to ceil(n / 2), so odd sizes such as 513 round up at each stage.
    """
    block = get_block(name)
    if len(image_size) != 2 or any(not isinstance(side, int) or side <= 0 for side in image_size):
        raise ValueError(f"image_size must be two positive ints (H, W), got {image_size!r}")
    if block.stride is None:
        return (block.channels,)
    height, width = image_size
    for _ in range(block.stride.bit_length() - 1):
        height, width = (height + 1) // 2, (width + 1) // 2
    return (block.channels, height, width)
