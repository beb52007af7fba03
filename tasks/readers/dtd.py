"""Describable Textures Dataset (the official dtd-r1.0.1.tar.gz, extracted)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListReader, subfolders

PARTITION = 1
"""Which of the ten official partitions; the paper's 3,760 train images are train1 + val1."""

SPLIT_LISTS = {"train": ("train", "val"), "test": ("test",)}


class DTD(FileListReader):
    """DTD texture classification on official partition 1.

    Tree under the task's data folder (`<data-root>/dtd`, the archive's top folder)::

        dtd/
            images/<class>/<class>_<NNNN>.jpg       47 class folders x 120 images
            labels/{train,val,test}{1..10}.txt      lines "<class>/<class>_<NNNN>.jpg", 40 per class each

    Split "train" is train1.txt then val1.txt (3,760 images), "test" is test1.txt (1,880), in list
    order. Classes are the folder names under images/ in sorted order (0 banded, 1 blotchy, ...,
    46 zigzagged); a listed image's class is the part of its line before the slash.

    `image(i)` is (H, W, 3) uint8 RGB; `labels()` int64 0..46.
    """

    SPLITS = ("train", "test")
    LISTING_FIRST = True
    LAYOUT = "dtd/images/<class>/*.jpg and dtd/labels/{train,val,test}1.txt (dtd-r1.0.1.tar.gz, extracted)"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        images = self.require(self.root / "images")
        self.lists = [
            self.require_index(self.root / "labels" / f"{name}{PARTITION}.txt") for name in SPLIT_LISTS[split]
        ]
        self.classes = subfolders(images)
        index = {name: label for label, name in enumerate(self.classes)}
        entries = [entry for path in self.lists for entry in self._read_list(path)]
        if len(set(entries)) != len(entries):
            raise DataCorrupt(f"{' and '.join(map(str, self.lists))}: an image is listed twice; re-extract the archive")
        present = {name: set(os.listdir(images / name)) for name in self.classes}
        self._paths, labels = [], []
        for category, name in entries:
            path = images / category / name
            if name not in present.get(category, ()):
                raise DataNotFound(
                    f"{path}: missing, though the {self.split} lists name it; re-extract dtd-r1.0.1.tar.gz"
                )
            self._paths.append(path)
            labels.append(index[category])
        self._labels = np.asarray(labels, dtype=np.int64)

    @staticmethod
    def _read_list(path: Path) -> list[tuple[str, str]]:
        """(class, file name) of each line "class/file.jpg"; blank lines skipped."""
        entries = []
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            entry = line.strip()
            if not entry:
                continue
            category, _, name = entry.partition("/")
            if not category or not name or "/" in name:
                raise DataCorrupt(
                    f"{path}: line {number}: expected '<class>/<file>.jpg', got {entry!r}; re-extract dtd-r1.0.1.tar.gz"
                )
            entries.append((category, name))
        return entries
