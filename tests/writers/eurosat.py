"""EuroSAT (RGB) in its official layout: 2750/<Class>/<Class>_<n>.jpg."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tasks.readers.eurosat import CLASSES
from tasks.synthetic import draw_shape_image
from tests.writers.images import save_jpeg


def write_eurosat(
    root: Path,
    per_class: int = 5,
    size: int = 16,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
    nested: bool = False,
) -> Path:
    """Write `root/eurosat/2750/` (or `root/eurosat/EuroSAT/2750/` with `nested`) as EuroSAT.zip
    extracts, and return the data folder `root/eurosat`.

    Class c (the c-th of `classes`, which must be sorted as the reader's labels are) is drawn as
    shape class c of `draw_shape_image`, so a linear head can learn it; images are numbered from
    1 as in the archive (`Forest/Forest_1.jpg` ...), `per_class` per class.
    """
    if list(classes) != sorted(classes):
        raise ValueError("classes must be in sorted order, the reader's label order")
    data_folder = Path(root) / "eurosat"
    image_root = data_folder / ("EuroSAT/2750" if nested else "2750")
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (image_root / name).mkdir(parents=True, exist_ok=True)
        for n in range(1, per_class + 1):
            save_jpeg(draw_shape_image(rng, label, size), image_root / name / f"{name}_{n}.jpg")
    return data_folder
