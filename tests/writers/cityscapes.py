"""Cityscapes fixtures in the official layout: `leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png`
and `gtFine/{train,val}/<city>/..._gtFine_labelIds.png` (with the `_color.png` sibling the reader ignores).

Each image is vertical bands, one per labelId drawn from a mix of evaluated and void ids; a band's
colour is a function of its id, so the classes are learnable from the pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}
BAND_IDS = (7, 8, 26, 0, 23, 3)
"""labelIds drawn: road, sidewalk, car, unlabeled (void), sky, out of roi (void)."""


def colour(label_id: int) -> np.ndarray:
    return np.array([label_id * 7 % 256, label_id * 37 % 256, label_id * 101 % 256], np.uint8)


def write_cityscapes(root: Path, per_city: int = 2, height: int = 16, width: int = 32, seed: int = 0) -> Path:
    """`root/cityscapes` with `per_city` frames in each city of CITIES; returns the data folder."""
    folder = root / "cityscapes"
    rng = np.random.default_rng(seed)
    for split, cities in CITIES.items():
        for city in cities:
            for frame in range(per_city):
                stem = f"{city}_{frame:06d}_{19 * frame + 19:06d}"
                ids = rng.choice(BAND_IDS, size=4)
                label_ids = np.repeat(ids, width // 4)[None, :].repeat(height, axis=0).astype(np.uint8)
                image = np.stack([colour(i) for i in ids]).repeat(width // 4, axis=0)[None].repeat(height, axis=0)
                for kind, name, array in (
                    ("leftImg8bit", f"{stem}_leftImg8bit.png", image),
                    ("gtFine", f"{stem}_gtFine_labelIds.png", label_ids),
                    ("gtFine", f"{stem}_gtFine_color.png", image),
                ):
                    path = folder / kind / split / city / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(array).save(path)
    return folder
