"""Tiny THOR depth dataset in the layout of ViRB's thor_depth.zip: `thor_depth_prediction/{train,test}/<scene>/`
with `<id>_rgb.jpg` views and `<id>_depth.jpg` 8-bit grayscale depth JPEGs.

Each view is a floor under a wall at a random distance; the depth map grows toward the horizon and
the view's brightness falls with depth, so depth is learnable from the pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.writers.images import save_jpeg

SCENES = {"train": ("FloorPlan1", "FloorPlan10"), "test": ("FloorPlan5",)}
"""Scene folders per split; "FloorPlan1" before "FloorPlan10" checks the sorted scene order."""
PER_SCENE = 2
COUNTS = {split: len(scenes) * PER_SCENE for split, scenes in SCENES.items()}


def thor_view(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB view, 8-bit depth) of one frame."""
    horizon = int(rng.integers(height // 3, 2 * height // 3))
    rows = np.arange(height)[:, None].repeat(width, axis=1)
    wall = int(rng.integers(120, 250))
    depth = np.where(rows < horizon, wall, wall * horizon // np.maximum(rows, 1)).astype(np.uint8)
    grey = (255 - depth).astype(np.uint8)
    return np.stack([grey, grey, grey // 2], axis=-1), depth


def write_thor_depth(root: Path, height: int = 48, width: int = 64, seed: int = 0) -> Path:
    """`root/thor_depth_prediction` with PER_SCENE views in each scene of SCENES; returns the data folder."""
    folder = root / "thor_depth_prediction"
    rng = np.random.default_rng(seed)
    for split, scenes in SCENES.items():
        for scene in scenes:
            for number in range(PER_SCENE):
                view, depth = thor_view(rng, height, width)
                save_jpeg(view, folder / split / scene / f"{number:06d}_rgb.jpg")
                Image.fromarray(depth).save(folder / split / scene / f"{number:06d}_depth.jpg", quality=95)
    return folder
