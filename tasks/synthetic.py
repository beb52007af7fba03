"""Small learnable datasets written in official formats, for the demo and the tests.

The class of each image is a (colour, fill) pair: a disc of one of five colours, solid or striped,
at a random place and size on a noisy background. Colour and stripe texture survive even a random
encoder's pooled features, so a linear head must score far above chance.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

PALETTE = np.array([[220, 40, 40], [40, 200, 60], [50, 80, 230], [235, 210, 40], [200, 60, 210]], dtype=np.float32)
FILLS = ("solid", "striped")
N_CLASSES = len(PALETTE) * len(FILLS)


def draw_shape_image(rng: np.random.Generator, label: int, size: int = 32) -> np.ndarray:
    """One (size, size, 3) uint8 image of class `label` (0 <= label < N_CLASSES)."""
    colour = PALETTE[label % len(PALETTE)]
    fill = FILLS[label // len(PALETTE)]
    image = rng.normal(110.0, 25.0, size=(size, size, 3))
    radius = rng.uniform(0.22, 0.34) * size
    cy, cx = rng.uniform(radius, size - radius, size=2)
    yy, xx = np.mgrid[0:size, 0:size]
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    if fill == "striped":
        mask &= (yy // 2) % 2 == 0
    image[mask] = colour + rng.normal(0.0, 12.0, size=(int(mask.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _cifar_split(rng: np.random.Generator, n: int, split: str) -> dict:
    """A split dict exactly as the official pickles hold it; labels spread over the 100 fine ids."""
    labels = np.arange(n) % N_CLASSES
    rng.shuffle(labels)
    images = np.stack([draw_shape_image(rng, int(label)) for label in labels])
    fine = (labels * (100 // N_CLASSES)).tolist()
    return {
        "filenames": [f"synthetic_{split}_{i:06d}.png" for i in range(n)],
        "batch_label": f"{split} batch 1 of 1",
        "fine_labels": fine,
        "coarse_labels": [label // 5 for label in fine],
        "data": images.transpose(0, 3, 1, 2).reshape(n, -1),
    }


def write_cifar100(root: str | Path, n_train: int = 1000, n_test: int = 300, seed: int = 0) -> Path:
    """Write `root/cifar-100-python/{train,test,meta}` in the official pickle format; return the folder."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        with open(folder / split, "wb") as handle:
            pickle.dump(_cifar_split(rng, n, split), handle, protocol=2)
    meta = {
        "fine_label_names": [f"class_{i:02d}" for i in range(100)],
        "coarse_label_names": [f"superclass_{i:02d}" for i in range(20)],
    }
    with open(folder / "meta", "wb") as handle:
        pickle.dump(meta, handle, protocol=2)
    return folder
