"""Caltech-101 fixtures in the official layout: `caltech-101/101_ObjectCategories/<category>/image_<NNNN>.jpg`
(as caltech-101.zip's inner 101_ObjectCategories.tar.gz extracts in place), BACKGROUND_Google included.

Every image of the category with sorted index c is `draw_shape_image(c % 10)`, so the classes are learnable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tasks.synthetic import N_CLASSES, draw_shape_image
from tests.writers.images import save_jpeg

FIXTURE_CATEGORIES = ("accordion", "BACKGROUND_Google", "Faces_easy", "ant")
"""Python's sorted order puts the capitalised ones first: BACKGROUND_Google 0, Faces_easy 1, accordion 2, ant 3."""


def write_caltech101(
    root: Path,
    categories: Sequence[str] = FIXTURE_CATEGORIES,
    per_class: int | Mapping[str, int] = 32,
    seed: int = 0,
    size: int = 16,
) -> Path:
    """`root/caltech-101/101_ObjectCategories` with `per_class` images per category (an int, or a count
    per category). Returns the data folder `root/caltech-101`."""
    folder = root / "caltech-101"
    rng = np.random.default_rng(seed)
    label = {category: index for index, category in enumerate(sorted(categories))}
    for category in categories:
        count = per_class if isinstance(per_class, int) else per_class[category]
        target = folder / "101_ObjectCategories" / category
        target.mkdir(parents=True, exist_ok=True)
        for number in range(1, count + 1):
            save_jpeg(draw_shape_image(rng, label[category] % N_CLASSES, size), target / f"image_{number:04d}.jpg")
    return folder
