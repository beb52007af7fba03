"""CLEVR v1.0 in its official layout: RGBA PNG renders and the scenes JSON of each split."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}
"""CLEVR's eight object colours (its properties.json RGB values)."""

GRID = (4, 6)
"""Objects sit in distinct cells of a rows x columns grid, so they never overlap and stay countable."""


def draw_scene(rng: np.random.Generator, count: int, width: int, height: int) -> tuple[np.ndarray, list[dict]]:
    """An (height, width, 4) RGBA render with `count` discs and its CLEVR object records."""
    image = np.empty((height, width, 4), np.uint8)
    image[..., :3] = np.clip(rng.normal(160, 6, (height, width, 3)), 0, 255)
    image[..., 3] = 255
    rows, columns = GRID
    cell_h, cell_w = height / rows, width / columns
    radius = 0.4 * min(cell_h, cell_w)
    yy, xx = np.mgrid[0:height, 0:width]
    objects = []
    for cell in rng.choice(rows * columns, size=count, replace=False):
        cy, cx = (cell // columns + 0.5) * cell_h, (cell % columns + 0.5) * cell_w
        colour = str(rng.choice(list(COLOURS)))
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2, :3] = COLOURS[colour]
        objects.append(
            {
                "color": colour,
                "size": "small",
                "rotation": float(rng.uniform(0, 360)),
                "shape": "sphere",
                "3d_coords": [float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)), 0.35],
                "material": "rubber",
                "pixel_coords": [int(cx), int(cy), float(rng.uniform(7, 13))],
            }
        )
    return image, objects


def write_clevr(
    root: Path,
    n_train: int = 16,
    n_val: int = 8,
    width: int = 48,
    height: int = 32,
    seed: int = 0,
    shuffle_scenes: bool = False,
    counts: Sequence[int] = tuple(range(3, 11)),
) -> Path:
    """Write `root/CLEVR_v1.0/` as CLEVR_v1.0.zip extracts (images and scenes of train and val) and
    return that folder.

    Scene i has counts[i % len(counts)] objects (by default 3 + i % 8), drawn as that many
    non-overlapping discs on a plain floor, so a head can learn the count (label = count - 3); a
    few far-apart counts make an easier fixture. Images are `CLEVR_<split>_%06d.png` RGBA; each
    scenes file is `{"info": ..., "scenes": [...]}` in image_index order, or shuffled with
    `shuffle_scenes` (the reader must match scenes by image_filename).
    """
    folder = Path(root) / "CLEVR_v1.0"
    (folder / "scenes").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        scenes = []
        for index in range(n):
            filename = f"CLEVR_{split}_{index:06d}.png"
            image, objects = draw_scene(rng, counts[index % len(counts)], width, height)
            Image.fromarray(image, "RGBA").save(folder / "images" / split / filename)
            scenes.append(
                {
                    "split": split,
                    "image_index": index,
                    "image_filename": filename,
                    "objects": objects,
                    "relationships": {"right": [], "behind": [], "front": [], "left": []},
                    "directions": {"right": [0.65, 0.75, 0.0], "front": [0.75, -0.65, 0.0]},
                }
            )
        if shuffle_scenes:
            rng.shuffle(scenes)
        info = {
            "split": split,
            "license": "Creative Commons Attribution (CC BY 4.0)",
            "version": "1.0",
            "date": "2/14/2017",
        }
        (folder / "scenes" / f"CLEVR_{split}_scenes.json").write_text(json.dumps({"info": info, "scenes": scenes}))
    return folder
