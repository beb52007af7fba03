"""Caltech-101 (`101_ObjectCategories`, from caltech-101.zip or the standalone tar.gz, extracted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListReader, image_files, subfolders

SPLIT_SEED = 0
"""Seed of the train/test draw; changing it changes every Caltech score."""

TRAIN_PER_CLASS = 30
CATEGORIES = "101_ObjectCategories"


class Caltech101(FileListReader):
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
        self.classes = subfolders(self.require(folder))
        if not self.classes:
            raise DataCorrupt(f"{folder}: no category folders; expected {self.LAYOUT}")
        rng = np.random.default_rng(SPLIT_SEED)
        self._paths, labels = [], []
        for label, category in enumerate(self.classes):
            images = image_files(folder / category, suffixes=(".jpg",))
            if len(images) <= TRAIN_PER_CLASS:
                raise DataCorrupt(
                    f"{folder / category}: {len(images)} images, but {TRAIN_PER_CLASS} train images "
                    "plus at least one test image are needed; re-extract the archive"
                )
            train = np.zeros(len(images), dtype=bool)
            train[rng.choice(len(images), TRAIN_PER_CLASS, replace=False)] = True
            keep = train if split == "train" else ~train
            self._paths += [path for path, kept in zip(images, keep) if kept]
            labels += [label] * int(keep.sum())
        self._labels = np.asarray(labels, dtype=np.int64)
