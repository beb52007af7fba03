"""AI2-THOR depth prediction in the layout of the ViRB-hosted `thor_depth.zip`, the only one it was published in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import DenseReader, FileListReader, load_map, subfolders

DEPTH_LEVELS = 255.0
"""The 8-bit depth JPEG's full scale: value / 255 is the renderer's [0, 1] depth."""


class ThorDepth(DenseReader, FileListReader):
    """THOR depth prediction: one rendered view and its depth map per sample.

    Tree under the task's data folder (`<data-root>/thor_depth_prediction`, from ViRB's thor_depth.zip)::

        thor_depth_prediction/
            {train,test}/<scene>/*rgb.jpg      8-bit RGB view
            {train,test}/<scene>/*depth.jpg    8-bit depth JPEG (grey; colour read as luminance, as the
                                               original convert("L")), paired with the views by sorted name

    Samples are the views of every scene folder, scenes and files in sorted order: the original
    code's sorted glob over `<split>/*/*rgb.jpg`, zipped with its sorted glob over `*depth.jpg`.
    Pairing is per scene, so a scene with unequal counts fails by name instead of shifting every
    later pair.

    `target(i)` is float32 (H, W) depth / 255, in the renderer's [0, 1] depth range: the zip keeps
    no metric scale, so these are not metres (the original code used the same [0, 1] values before
    normalising them to (d - 0.5) / 0.25). JPEG compression leaves the values approximate.
    """

    SPLITS = ("train", "test")
    TARGET = "depth"
    LAYOUT = (
        "thor_depth_prediction/{train,test}/<scene>/*rgb.jpg and *depth.jpg, paired by sorted name "
        "(ViRB's thor_depth.zip, extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [self.TARGET]
        folder = self.require(self.root / split)
        self._paths, self._target_paths = [], []
        for scene in subfolders(folder):
            views = sorted(path for path in (folder / scene).glob("*rgb.jpg") if path.is_file())
            depths = sorted(path for path in (folder / scene).glob("*depth.jpg") if path.is_file())
            if len(views) != len(depths):
                raise DataCorrupt(
                    f"{folder / scene}: {len(views)} *rgb.jpg views but {len(depths)} *depth.jpg maps; "
                    f"they pair in sorted order, so the counts must match; re-extract thor_depth.zip"
                )
            self._paths += views
            self._target_paths += depths
        if not self._paths:
            raise DataNotFound(f"{folder}: no <scene>/*rgb.jpg views; expected {self.LAYOUT}")

    def target(self, index: int) -> np.ndarray:
        path = self._target_paths[index]
        depth = load_map(path, grey=True)
        if depth.dtype != np.uint8:
            raise DataCorrupt(f"{path}: {depth.dtype} values, expected an 8-bit depth JPEG; re-extract thor_depth.zip")
        return depth.astype(np.float32) / DEPTH_LEVELS


class ThorDepthNormalized(ThorDepth):
    """THOR depth as the original code trained and scored it: (d / 255 - 0.5) / 0.25, so its L1 is
    four times that of the [0, 1] depth (the virb protocol, docs/PROTOCOL.md section 8)."""

    CENTRE, SPREAD = 0.5, 0.25

    def target(self, index: int) -> np.ndarray:
        return (super().target(index) - self.CENTRE) / self.SPREAD
