"""Image files for fixtures, shared by the writers and the reader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def save_jpeg(image: np.ndarray, path: Path) -> None:
    """Write an (H, W, 3) uint8 array as a high-quality JPEG, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=95)


def rewrite_larger(path: Path) -> None:
    """Rewrite an image file at twice its width and height, in its own format: the edit a re-encoded
    or replaced download makes, which must change a reader's manifest."""
    with Image.open(path) as image:
        image_format = image.format
        larger = image.resize((2 * image.width, 2 * image.height))
    larger.save(path, format=image_format)
