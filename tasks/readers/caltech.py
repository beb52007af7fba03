"""Caltech-101 (`101_ObjectCategories`, from caltech-101.zip or the standalone tar.gz, extracted)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import Reader, listing_digest, load_rgb

SPLIT_SEED = 0
"""Seed of the train/test draw; changing it changes every Caltech score."""

TRAIN_PER_CLASS = 30
CATEGORIES = "101_ObjectCategories"


def category_images(folder: Path) -> list[str]:
    """Names of the visible `.jpg` files in a category folder, sorted."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if entry.is_file() and not entry.name.startswith(".")
                      and entry.name.lower().endswith(".jpg"))


class Caltech101(Reader):
    """Caltech-101 with BACKGROUND_Google as the 102nd class, 30 training images per class.

    Tree under the task's data folder (`<data-root>/caltech-101`)::

        caltech-101/
            101_ObjectCategories/<category>/image_<NNNN>.jpg     102 folders, BACKGROUND_Google included

    caltech-101.zip (data.caltech.edu) extracts to `caltech-101/` holding `101_ObjectCategories.tar.gz`:
    extract that in place. With the standalone 101_ObjectCategories.tar.gz, extract it into
    `<data-root>/caltech-101/`. Files other than `*.jpg` (and hidden ones) are ignored.

    There is no official split. Classes are the category folders in Python's sorted order
    (BACKGROUND_Google 0, Faces 1, Faces_easy 2, Leopards 3, Motorbikes 4, accordion 5, ...). Per
    class, in that order, one numpy default_rng(SPLIT_SEED) draws TRAIN_PER_CLASS of the sorted file
    names for train; the rest are test. A class needs more than TRAIN_PER_CLASS images. Full
    dataset: 3,060 train (30 x 102, the paper's size) and 6,084 test images.

    `image(i)` is (H, W, 3) uint8 RGB (grayscale images converted); `labels()` int64 0..101. Samples
    are in class then file-name order.
    """

    SPLITS = ("train", "test")
    LAYOUT = f"caltech-101/{CATEGORIES}/<category>/image_<NNNN>.jpg (101 categories + BACKGROUND_Google)"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        folder = self.root / CATEGORIES
        if not folder.is_dir() and (self.root / f"{CATEGORIES}.tar.gz").is_file():
            raise DataNotFound(f"{folder}: missing; extract {self.root / CATEGORIES}.tar.gz in place")
        self.require(folder)
        with os.scandir(folder) as entries:
            self.classes = sorted(entry.name for entry in entries if entry.is_dir() and not entry.name.startswith("."))
        if not self.classes:
            raise DataCorrupt(f"{folder}: no category folders; expected {self.LAYOUT}")
        rng = np.random.default_rng(SPLIT_SEED)
        self._paths, labels = [], []
        for label, category in enumerate(self.classes):
            names = category_images(folder / category)
            if len(names) <= TRAIN_PER_CLASS:
                raise DataCorrupt(f"{folder / category}: {len(names)} images, but {TRAIN_PER_CLASS} train images "
                                  "plus at least one test image are needed; re-extract the archive")
            train = np.zeros(len(names), dtype=bool)
            train[rng.choice(len(names), TRAIN_PER_CLASS, replace=False)] = True
            keep = train if split == "train" else ~train
            self._paths += [folder / category / name for name, kept in zip(names, keep) if kept]
            labels += [label] * int(keep.sum())
        self._labels = np.asarray(labels, dtype=np.int64)
        self._ids = [path.relative_to(self.root).as_posix() for path in self._paths]

    def __len__(self) -> int:
        return len(self._paths)

    def image(self, index: int) -> np.ndarray:
        return load_rgb(self._paths[index])

    def labels(self) -> np.ndarray:
        return self._labels

    def image_ids(self) -> list[str]:
        return self._ids

    def content_digest(self) -> str:
        return listing_digest(self.root, self._paths)
