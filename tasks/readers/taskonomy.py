"""Taskonomy depth (z-buffer) prediction on per-building rgb and depth_zbuffer folders, as the original code read."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import DenseReader, FileListReader, image_files, load_map, subfolders

DEPTH_UNITS_PER_METRE = 512.0
"""depth_zbuffer PNGs store z in 1/512 m (taskonomy data README), so the 16 bits reach 128 m."""

NO_DEPTH = 65535
"""The value Taskonomy writes where the mesh has no geometry (omnidata's mask_valid is depth != 65535)."""

RGB_SUFFIX, DEPTH_SUFFIX = "_domain_rgb.png", "_domain_depth_zbuffer.png"


class TaskonomyDepth(DenseReader, FileListReader):
    """Taskonomy depth prediction: the z-buffer depth of each RGB view, in metres.

    Tree under the task's data folder (`<data-root>/taskonomy`, the original code's name; extract each
    building's rgb and depth_zbuffer tars into the split's domain folders)::

        taskonomy/
            {train,test}/rgb/<building>/point_<P>_view_<V>_domain_rgb.png                       8-bit RGB, 512x512
            {train,test}/depth_zbuffer/<building>/point_<P>_view_<V>_domain_depth_zbuffer.png   16-bit z, 1/512 m

    Samples are the RGB views of every building folder, buildings and files in sorted order; each
    pairs with the depth file of the same `point_<P>_view_<V>` prefix (the original code zipped two
    sorted globs, which gives the same pairs on a complete download), and a missing partner fails by
    name. Which buildings form each split is the user's choice (the original code's came from its
    taskonomy_scenes.txt).

    `target(i)` is float32 (H, W) metres = value / 512, NaN where the value is 65535 (no geometry).
    It stays metric: the original code's clip at 10000 and per-image max/min normalisation made
    its errors relative per image, which the protocol's metres replace.
    """

    SPLITS = ("train", "test")
    TARGET = "depth"
    LAYOUT = ("taskonomy/{train,test}/rgb/<building>/*_domain_rgb.png and taskonomy/{train,test}/depth_zbuffer/"
              "<building>/*_domain_depth_zbuffer.png (per-building tars, extracted)")

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [self.TARGET]
        images = self.require(self.root / split / "rgb")
        depths = self.require(self.root / split / "depth_zbuffer")
        self._paths, self._target_paths = [], []
        for building in subfolders(images):
            present = set(os.listdir(self.require(depths / building)))
            for path in image_files(images / building, (RGB_SUFFIX,)):
                target = depths / building / (path.name[:-len(RGB_SUFFIX)] + DEPTH_SUFFIX)
                if target.name not in present:
                    raise DataNotFound(f"{target}: missing, though {path} exists; extract the building's "
                                       "depth_zbuffer tar")
                self._paths.append(path)
                self._target_paths.append(target)
        if not self._paths:
            raise DataNotFound(f"{images}: no <building>/*{RGB_SUFFIX} views; expected {self.LAYOUT}")

    def target(self, index: int) -> np.ndarray:
        path = self._target_paths[index]
        raw = load_map(path)
        if raw.dtype.kind not in "ui" or raw.dtype.itemsize < 2:
            raise DataCorrupt(f"{path}: {raw.dtype} values, expected a 16-bit depth PNG; re-extract the building's "
                              "depth_zbuffer tar")
        depth = raw.astype(np.float32) / DEPTH_UNITS_PER_METRE
        depth[raw == NO_DEPTH] = np.nan
        return depth
