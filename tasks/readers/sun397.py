"""SUN397 scene classification (the official `SUN397.tar.gz`, extracted; optional `Partitions.zip`)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListReader, combined_digest, file_sha256, image_files, listing_digest, seeded_members

SPLIT_SEED = 397
"""Seed of the paper-style 80/20 split; changing it changes every SUN397 score."""

CLASS_LINE = re.compile(r"/[^/\s]+/\S+")
"""A ClassName.txt line: `/<letter>/<name>[/<subname>]`."""


class SUN397(FileListReader):
    """SUN397: 397 scene categories, one image each sample.

    Tree under the task's data folder (`<data-root>/SUN397`, as `SUN397.tar.gz` extracts)::

        SUN397/
            ClassName.txt                    397 lines `/a/abbey`, `/a/apartment_building/outdoor`, ...
            a/abbey/sun_<random>.jpg         the images of class `/a/abbey` (JPEG; some grayscale or CMYK)
            a/apartment_building/outdoor/sun_<random>.jpg
            ...
            Partitions/                      only with `partitions=`: `Partitions.zip` extracted here
                Training_01.txt ... Training_10.txt   lines `/a/abbey/sun_<random>.jpg` (50 per class)
                Testing_01.txt ... Testing_10.txt

    Class c is line c of ClassName.txt; `classes[c]` is that line without its `/<letter>/` prefix.
    A class's images are the `*.jpg` files directly in its folder (not in sub-folders, which are
    other classes).

    Splits `train`/`test`:
    - default (the paper's split, which it never published): per class, the images sorted by
      name, 4/5 drawn for train with `seeded_split(sizes, SPLIT_SEED)`, the rest test. On the
      full 108,754 images: 87,003 train / 21,751 test (the largest-remainder rounding of
      `train_counts` makes the train total exactly floor(0.8 * 108,754)).
    - `partitions=<folder>` (e.g. `root / "Partitions"`), `fold=1..10`: the official lists
      `Training_<fold:02d>.txt` / `Testing_<fold:02d>.txt`, 19,850 images each, in file order.

    Samples are in class order, then name order (default), or list order (partitions). `image(i)`
    is (H, W, 3) uint8 RGB; `labels()` int64 in 0..396; `image_ids()` the path relative to this
    folder (`a/abbey/sun_xxx.jpg`), the same in both modes, so features are shared.
    """

    SPLITS = ("train", "test")
    LAYOUT = (
        "SUN397/ClassName.txt (lines '/a/abbey') and SUN397/<letter>/<class>/sun_*.jpg "
        "(SUN397.tar.gz extracted; Partitions.zip's Training_NN.txt/Testing_NN.txt only with partitions=)"
    )

    def __init__(self, root: str | Path, split: str, partitions: str | Path | None = None, fold: int = 1) -> None:
        super().__init__(root, split)
        self.class_file = self.require(self.root / "ClassName.txt")
        self.class_lines = self._read_class_lines()
        self.classes = [line.split("/", 2)[2] for line in self.class_lines]
        self.split_file: Path | None = None
        if partitions is None:
            per_class = [self._class_images(line) for line in self.class_lines]
            self._paths, labels = seeded_members(per_class, SPLIT_SEED, train=split == "train")
        else:
            if not 1 <= fold <= 10:
                raise ValueError(f"fold {fold} outside 1..10 (Partitions.zip has Training_01..10.txt)")
            name = f"{'Training' if split == 'train' else 'Testing'}_{fold:02d}.txt"
            self.split_file = self.require(Path(partitions) / name)
            self._paths, labels = self._listed(self.split_file)
        self._labels = np.array(labels, dtype=np.int64)

    def _read_class_lines(self) -> list[str]:
        """ClassName.txt's non-blank lines; each must look like `/a/abbey` and appear once."""
        lines: list[str] = []
        for number, line in enumerate(self.class_file.read_text(encoding="utf-8-sig").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            if not CLASS_LINE.fullmatch(line):
                raise DataCorrupt(
                    f"{self.class_file}: line {number}: {line!r} is not a class like '/a/abbey'; "
                    "re-extract SUN397.tar.gz"
                )
            if line in lines:
                raise DataCorrupt(f"{self.class_file}: line {number}: class {line} listed twice")
            lines.append(line)
        if not lines:
            raise DataCorrupt(f"{self.class_file}: no classes; re-extract SUN397.tar.gz")
        return lines

    def _class_images(self, line: str) -> list[Path]:
        """The class's images, sorted by name; its folder must exist and hold at least one."""
        folder = self.require(self.inside(self.root / line.lstrip("/"), f"{self.class_file}: class {line}"))
        images = image_files(folder, (".jpg",))
        if not images:
            raise DataNotFound(f"{folder}: no .jpg images for class {line}; expected {self.LAYOUT}")
        return images

    def _listed(self, split_file: Path) -> tuple[list[Path], list[int]]:
        """An official partition list: lines `/a/abbey/sun_xxx.jpg`, class = the line's folder."""
        class_index = {line: index for index, line in enumerate(self.class_lines)}
        paths, labels, seen = [], [], set()
        for number, line in enumerate(split_file.read_text(encoding="utf-8-sig").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            folder, _, name = line.rpartition("/")
            if folder not in class_index or not name:
                raise DataCorrupt(
                    f"{split_file}: line {number}: {line!r} is not '/<letter>/<class>/<file>.jpg' "
                    f"of a class in {self.class_file}; re-extract Partitions.zip"
                )
            if line in seen:
                raise DataCorrupt(f"{split_file}: line {number}: {line} listed twice")
            seen.add(line)
            paths.append(self.require(self.inside(self.root / line.lstrip("/"), f"{split_file}: line {number}")))
            labels.append(class_index[folder])
        return paths, labels

    def content_digest(self) -> str:
        """ClassName.txt, the listing, then the partition list if one is read: SUN397's released order."""
        parts = [file_sha256(self.class_file), listing_digest(self.root, self._paths)]
        if self.split_file is not None:
            parts.append(file_sha256(self.split_file))
        return combined_digest(*parts)
