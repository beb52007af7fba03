"""NYU Depth V2 depth and walkable-surface tasks (the original code's nyu.zip, extracted)."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from tasks.errors import DataCorrupt
from tasks.readers.base import DenseReader, FileListReader, image_files, load_map

LAYOUT = "nyu/{train,test}/images/*.png with nyu/{train,test}/depths/*.tiff and walkable/*.png (nyu.zip, extracted)"


class _NyuReader(DenseReader, FileListReader):
    """The shared indexing of both NYU tasks: the split's images and one target folder, each sorted
    by name and paired in that order, as the original code zipped them (its file names are not
    guaranteed to share stems, so equal counts are the check)."""

    SPLITS = ("train", "test")
    LAYOUT = LAYOUT
    TARGET_FOLDER: ClassVar[str]
    TARGET_SUFFIXES: ClassVar[tuple[str, ...]]

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        images = self.require(self.root / split / "images")
        targets = self.require(self.root / split / self.TARGET_FOLDER)
        self._paths = image_files(images, (".png",))
        self._target_paths = image_files(targets, self.TARGET_SUFFIXES)
        if len(self._paths) != len(self._target_paths) or not self._paths:
            raise DataCorrupt(f"{images} holds {len(self._paths)} images but {targets} {len(self._target_paths)} "
                              f"maps; they pair in sorted order, so the counts must match and be non-zero "
                              f"(expected {LAYOUT})")


class NyuDepth(_NyuReader):
    """NYU depth prediction on the original code's split (1,159 train, 290 test of the 1,449 labelled
    frames; not the official 795/654).

    Tree under the task's data folder (`<data-root>/nyu`, the original code's name)::

        nyu/
            {train,test}/images/*.png      8-bit RGB, 640x480
            {train,test}/depths/*.tiff     float depth in metres, same size, paired by sorted name
            {train,test}/walkable/*.png    (read by NyuWalkable)

    `target(i)` is float32 (H, W) metres, NaN where the depth is zero, negative or not finite.
    """

    TARGET = "depth"
    TARGET_FOLDER = "depths"
    TARGET_SUFFIXES = (".tiff", ".tif")

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [self.TARGET]

    def target(self, index: int) -> np.ndarray:
        path = self._target_paths[index]
        depth = load_map(path)
        if depth.dtype.kind != "f":
            raise DataCorrupt(f"{path}: {depth.dtype} values, expected a float TIFF of metres; re-extract nyu.zip")
        depth = depth.astype(np.float32)
        depth[~(depth > 0) | ~np.isfinite(depth)] = np.nan
        return depth


class NyuWalkable(_NyuReader):
    """NYU walkable-surface segmentation on the original code's split (see NyuDepth for the tree):
    `{train,test}/walkable/*.png` masks paired with the images by sorted name. `target(i)` is int64
    (H, W): 1 walkable where the mask is non-zero, else 0 (named by `classes`), as the original code
    binarised it.
    """

    TARGET = "classes"
    TARGET_FOLDER = "walkable"
    TARGET_SUFFIXES = (".png",)

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = ["not walkable", "walkable"]

    def target(self, index: int) -> np.ndarray:
        return (load_map(self._target_paths[index]) != 0).astype(np.int64)
