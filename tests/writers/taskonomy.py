"""Tiny Taskonomy depth dataset in each official layout: the original code's split folders, the
Omnidata downloader's tree and the per-building tars extracted; views `point_<P>_view_<V>_domain_rgb.png`
(8-bit RGB) with `..._domain_depth_zbuffer.png` (16-bit PNG, 1/512 m), optionally with an official
split file `splits_taskonomy/train_val_test_<size>.csv`.

Each view looks at a wall at a random distance with the floor below; brightness falls with depth,
so depth is learnable. Pixel (0, 0) is 65535 (no geometry) and pixel (0, 1) is 1024 (2 m).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

BUILDINGS = {"train": ("allensville", "beechwood"), "val": ("collierville",), "test": ("ihlen",)}
"""The fixture's buildings by their split in the official tiny list."""
ALL_BUILDINGS = [building for buildings in BUILDINGS.values() for building in buildings]
ABSENT = {"train": "hanson", "val": "wiconisco", "test": "muleshoe"}
"""Buildings the split file written also lists but the folder lacks, as in a partial download."""
VIEWS = ((0, 1), (7, 0))
"""(point, view) of each building's views."""
COUNTS = {split: len(BUILDINGS[split]) * len(VIEWS) for split in ("train", "test")}
"""Views per split in the original layout or with the split file (whose val buildings are not read)."""
FOLDERS = {
    "original": "{split}/{domain}/{building}",
    "omnidata": "{domain}/taskonomy/{building}",
    "tars": "{building}/{domain}",
}
"""Where each layout keeps a building's views of one domain."""


def stem(point: int, view: int) -> str:
    return f"point_{point}_view_{view}_domain"


def domain_folder(folder: Path, layout: str, building: str, domain: str) -> Path:
    """The folder of `building`'s `domain` views in `layout` under the data folder `folder`."""
    split = next(split for split, buildings in BUILDINGS.items() if building in buildings)
    return folder / FOLDERS[layout].format(split=split, domain=domain, building=building)


def write_taskonomy(
    root: Path,
    height: int = 48,
    width: int = 64,
    seed: int = 0,
    views: tuple[tuple[int, int], ...] = VIEWS,
    layout: str = "original",
    split_file: str | None = None,
) -> Path:
    """`root/taskonomy` in `layout` with `views` (point, view) in each building of BUILDINGS, the same
    pixels in every layout (the original layout has no val folder, so no val building), and with
    `split_file` (a size such as "tiny") the official split file listing BUILDINGS and ABSENT;
    returns the data folder."""
    folder = root / "taskonomy"
    rows = np.arange(height)[:, None].repeat(width, axis=1)
    horizon = height // 2
    written = [
        building
        for split, buildings in BUILDINGS.items()
        if layout != "original" or split != "val"
        for building in buildings
    ]
    for building in written:
        rng = np.random.default_rng([seed, ALL_BUILDINGS.index(building)])
        images, depths = (domain_folder(folder, layout, building, domain) for domain in ("rgb", "depth_zbuffer"))
        images.mkdir(parents=True, exist_ok=True)
        depths.mkdir(parents=True, exist_ok=True)
        for point, view in views:
            wall = float(rng.uniform(1.0, 20.0))
            metres = np.where(rows < horizon, wall, wall * horizon / np.maximum(rows, 1))
            depth = np.round(metres * 512).astype(np.uint16)
            depth[0, 0], depth[0, 1] = 65535, 1024
            grey = np.clip(255 - metres * 12, 0, 255).astype(np.uint8)
            image = np.stack([grey, grey, np.full_like(grey, 90)], axis=-1)
            Image.fromarray(image).save(images / f"{stem(point, view)}_rgb.png")
            Image.fromarray(depth).save(depths / f"{stem(point, view)}_depth_zbuffer.png")
    if split_file:
        listed = {split: (*buildings, ABSENT[split]) for split, buildings in BUILDINGS.items()}
        write_split_file(folder / "splits_taskonomy" / f"train_val_test_{split_file}.csv", listed)
    return folder


def write_split_file(path: Path, listed: dict[str, tuple[str, ...]]) -> Path:
    """An official split file: header `id,train,val,test`, a row per building with its split's flag
    1, lines ending in CR and no final line break, as splits_taskonomy.zip ships them."""
    columns = ("train", "val", "test")
    rows = [
        f"{building},{','.join('1' if column == split else '0' for column in columns)}"
        for split, buildings in listed.items()
        for building in buildings
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\r".join(["id,train,val,test", *rows]).encode())
    return path
