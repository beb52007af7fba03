"""Cityscapes fine semantic segmentation (the official leftImg8bit and gtFine trainvaltest zips, extracted)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import IGNORE, DenseReader, FileListReader, image_files, load_map, subfolders

TRAIN_LABELS = (
    (7, "road"),
    (8, "sidewalk"),
    (11, "building"),
    (12, "wall"),
    (13, "fence"),
    (17, "pole"),
    (19, "traffic light"),
    (20, "traffic sign"),
    (21, "vegetation"),
    (22, "terrain"),
    (23, "sky"),
    (24, "person"),
    (25, "rider"),
    (26, "car"),
    (27, "truck"),
    (28, "bus"),
    (31, "train"),
    (32, "motorcycle"),
    (33, "bicycle"),
)
"""(labelId, name) of the 19 evaluated classes in trainId order (cityscapesScripts labels.py); every
other labelId (void, ignoreInEval) is IGNORE."""

TRAIN_ID = np.full(256, IGNORE, dtype=np.int64)
TRAIN_ID[[label_id for label_id, _ in TRAIN_LABELS]] = np.arange(len(TRAIN_LABELS))
"""labelId -> trainId lookup for an 8-bit labelIds map."""

IMAGE_SUFFIX, LABEL_SUFFIX = "_leftImg8bit.png", "_gtFine_labelIds.png"


class CityscapesSegmentation(DenseReader, FileListReader):
    """Cityscapes semantic segmentation, 19 classes, on the official fine train/val split.

    Tree under the task's data folder (`<data-root>/cityscapes`; extract both zips there)::

        cityscapes/
            leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png      8-bit RGB, 2048x1024
            gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png      8-bit labelIds 0..33
            (leftImg8bit/test, gtFine/test and the other gtFine files are not read)

    Samples are the images of every city folder, cities and files in sorted order (train 2,975,
    val 500); each needs its labelIds map. `target(i)` is the map through labels.py's
    labelId -> trainId table: int64 0..18 (named by `classes`), 255 for every other id.
    """

    SPLITS = ("train", "val")
    TARGET = "classes"
    LAYOUT = (
        "cityscapes/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and "
        "cityscapes/gtFine/{train,val}/<city>/*_gtFine_labelIds.png (both trainvaltest zips, extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [name for _, name in TRAIN_LABELS]
        images = self.require(self.root / "leftImg8bit" / split)
        labels = self.require(self.root / "gtFine" / split)
        self._paths, self._target_paths = [], []
        for city in subfolders(images):
            present = set(os.listdir(self.require(labels / city)))
            for path in image_files(images / city, (IMAGE_SUFFIX.lower(),)):
                target = labels / city / (path.name[: -len(IMAGE_SUFFIX)] + LABEL_SUFFIX)
                if target.name not in present:
                    raise DataNotFound(f"{target}: missing, though {path} exists; re-extract gtFine_trainvaltest.zip")
                self._paths.append(path)
                self._target_paths.append(target)
        if not self._paths:
            raise DataNotFound(f"{images}: no *{IMAGE_SUFFIX} images; expected {self.LAYOUT}")

    def target(self, index: int) -> np.ndarray:
        path = self._target_paths[index]
        label_ids = load_map(path)
        if label_ids.dtype != np.uint8:
            raise DataCorrupt(
                f"{path}: {label_ids.dtype} values, expected 8-bit labelIds; re-extract gtFine_trainvaltest.zip"
            )
        return TRAIN_ID[label_ids]
