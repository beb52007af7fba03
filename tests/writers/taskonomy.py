"""Tiny Taskonomy depth dataset: `taskonomy/{train,test}/rgb/<building>/point_<P>_view_<V>_domain_rgb.png` and
`depth_zbuffer/<building>/point_<P>_view_<V>_domain_depth_zbuffer.png` (16-bit PNG, 1/512 m).

Each view looks at a wall at a random distance with the floor below; brightness falls with depth,
so depth is learnable. Pixel (0, 0) is 65535 (no geometry) and pixel (0, 1) is 1024 (2 m).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

BUILDINGS = {"train": ("allensville", "beechwood"), "test": ("collierville",)}
VIEWS = ((0, 1), (7, 0))
"""(point, view) of each building's views."""
COUNTS = {split: len(buildings) * len(VIEWS) for split, buildings in BUILDINGS.items()}


def stem(point: int, view: int) -> str:
    return f"point_{point}_view_{view}_domain"


def write_taskonomy(root: Path, height: int = 48, width: int = 64, seed: int = 0,
                    views: tuple[tuple[int, int], ...] = VIEWS) -> Path:
    """`root/taskonomy` with `views` (point, view) in each building of BUILDINGS; returns the data folder."""
    folder = root / "taskonomy"
    rng = np.random.default_rng(seed)
    rows = np.arange(height)[:, None].repeat(width, axis=1)
    for split, buildings in BUILDINGS.items():
        for building in buildings:
            (folder / split / "rgb" / building).mkdir(parents=True, exist_ok=True)
            (folder / split / "depth_zbuffer" / building).mkdir(parents=True, exist_ok=True)
            for point, view in views:
                wall = float(rng.uniform(1.0, 20.0))
                horizon = height // 2
                metres = np.where(rows < horizon, wall, wall * horizon / np.maximum(rows, 1))
                depth = np.round(metres * 512).astype(np.uint16)
                depth[0, 0], depth[0, 1] = 65535, 1024
                grey = np.clip(255 - metres * 12, 0, 255).astype(np.uint8)
                image = np.stack([grey, grey, np.full_like(grey, 90)], axis=-1)
                Image.fromarray(image).save(folder / split / "rgb" / building / f"{stem(point, view)}_rgb.png")
                Image.fromarray(depth).save(folder / split / "depth_zbuffer" / building /
                                            f"{stem(point, view)}_depth_zbuffer.png")
    return folder
