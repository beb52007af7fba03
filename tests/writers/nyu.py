"""NYU fixtures in the original code's layout: `nyu/{train,test}/images/<n>.png`,
`depths/<n>.tiff` (float32 metres) and `walkable/<n>.png` (0 or 255).

Each frame is a floor (walkable, lower rows) under a wall; depth grows down the wall and toward the
horizon, and the image brightness follows the depth, so both targets are learnable. Pixel (0, 0)
has depth 0 (a sensor hole).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COUNTS = {"train": 4, "test": 2}


def nyu_frame(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, depth in metres, walkable mask) of one frame."""
    horizon = int(rng.integers(height // 3, 2 * height // 3))
    rows = np.arange(height, dtype=np.float32)[:, None].repeat(width, axis=1)
    wall = float(rng.uniform(2.0, 8.0))
    depth = np.where(rows < horizon, wall, wall * horizon / np.maximum(rows, 1.0)).astype(np.float32)
    depth[0, 0] = 0.0
    walkable = np.where(rows >= horizon, 255, 0).astype(np.uint8)
    grey = np.clip(255 - depth * 25, 0, 255).astype(np.uint8)
    image = np.stack([grey, grey, np.where(walkable > 0, 200, 40).astype(np.uint8)], axis=-1)
    return image, depth, walkable


def write_nyu(root: Path, height: int = 16, width: int = 20, seed: int = 0) -> Path:
    """`root/nyu` with COUNTS frames per split; returns the data folder."""
    folder = root / "nyu"
    rng = np.random.default_rng(seed)
    for split, count in COUNTS.items():
        for kind in ("images", "depths", "walkable"):
            (folder / split / kind).mkdir(parents=True, exist_ok=True)
        for number in range(count):
            image, depth, walkable = nyu_frame(rng, height, width)
            Image.fromarray(image).save(folder / split / "images" / f"{number:05d}.png")
            Image.fromarray(depth).save(folder / split / "depths" / f"{number:05d}.tiff")
            Image.fromarray(walkable).save(folder / split / "walkable" / f"{number:05d}.png")
    return folder
