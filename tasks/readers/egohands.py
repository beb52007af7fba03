"""EgoHands hand segmentation (the official egohands_data.zip, extracted), rasterised from its polygons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import DenseReader, FileListReader, image_files, load_rgb, subfolders

CLASSES = ("background", "yourleft", "yourright", "myleft", "myright")
"""Class i of the target, the original code's order; each hand class is the polygons.mat field of its name."""

TEST_VIDEOS = (
    "CARDS_COURTYARD_B_T",
    "CARDS_OFFICE_S_B",
    "CHESS_COURTYARD_B_T",
    "CHESS_LIVINGROOM_T_H",
    "JENGA_LIVINGROOM_S_T",
    "JENGA_OFFICE_H_T",
    "PUZZLE_COURTYARD_H_T",
    "PUZZLE_LIVINGROOM_T_B",
)
VAL_VIDEOS = ("CARDS_LIVINGROOM_S_H", "CHESS_COURTYARD_H_S", "JENGA_COURTYARD_T_S", "PUZZLE_OFFICE_S_T")
"""The original code's 48-entry split masks (the 2015 paper's 8 test and 4 validation videos), applied
to the sorted video names; its validation videos were never used, so they are in neither split."""

SAMPLES, POLYGONS = "_LABELLED_SAMPLES", "polygons.mat"


class EgoHandsSegmentation(DenseReader, FileListReader):
    """EgoHands segmentation of the four hands, split by video as the original code did.

    Tree under the task's data folder (`<data-root>/egohands`; extract egohands_data.zip there)::

        egohands/
            _LABELLED_SAMPLES/<ACTIVITY>_<LOCATION>_<X>_<Y>/frame_<NNNN>.jpg   48 videos x 100 frames, 1280x720 RGB
            _LABELLED_SAMPLES/<VIDEO>/polygons.mat    MATLAB v5: 1x100 struct array `polygons`, one per frame in
                                                      frame order; fields myleft, myright, yourleft, yourright,
                                                      each an (N, 2) array of (x, y) vertices, empty if absent
            (metadata.mat and the .m scripts are not read)

    "test" is the 8 videos of TEST_VIDEOS, each required; "train" every other video folder but the 4
    validation videos (36 in the zip). Frames are the video's `.jpg` files sorted by name (the
    zero-padded frame numbers, so frame order), matched in order to the `polygons` elements, whose
    count must equal theirs.

    `target(i)` is int64 (H, W) at the frame's size, 0 background and 1..4 the hands of `classes`:
    each polygon filled with PIL's ImageDraw.polygon after moving its vertices from MATLAB's 1-based
    pixel coordinates to PIL's 0-based ones; polygons of fewer than 3 vertices have no area and are
    skipped, and where hands overlap the later class in `classes` wins.
    """

    SPLITS = ("train", "test")
    TARGET = "classes"
    LAYOUT = "egohands/_LABELLED_SAMPLES/<VIDEO>/frame_<NNNN>.jpg and polygons.mat (egohands_data.zip, extracted)"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = list(CLASSES)
        samples = self.require(self.root / SAMPLES)
        if split == "test":
            videos = list(TEST_VIDEOS)
        else:
            videos = [video for video in subfolders(samples) if video not in TEST_VIDEOS + VAL_VIDEOS]
            if not videos:
                raise DataNotFound(f"{samples}: no train video folders; expected {self.LAYOUT}")
        self._paths, self._polygons = [], []
        for video in videos:
            polygons = self.require(self.require(samples / video) / POLYGONS)
            frames = image_files(samples / video, (".jpg",))
            count = len(read_polygons(polygons))
            if count != len(frames):
                raise DataCorrupt(
                    f"{polygons}: {count} polygon sets but {len(frames)} frames beside it; they pair "
                    "in frame order, so the counts must match; re-extract egohands_data.zip"
                )
            self._paths += frames
            self._polygons += [(polygons, element) for element in range(count)]

    def target(self, index: int) -> np.ndarray:
        """The frame's hands, rasterised at the frame's size (read by decoding the frame, so a damaged
        one fails by path as `image` would)."""
        path, element = self._polygons[index]
        height, width = load_rgb(self._paths[index]).shape[:2]
        mask = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        hands = read_polygons(path)[element]
        for label, name in enumerate(CLASSES[1:], start=1):
            vertices = np.asarray(hands[name], dtype=np.float64)
            if vertices.size and (vertices.ndim != 2 or vertices.shape[1] != 2):
                raise DataCorrupt(
                    f"{path}: polygons({element + 1}).{name} has shape {vertices.shape}, expected "
                    "(N, 2) x, y vertices; re-extract egohands_data.zip"
                )
            if len(vertices) >= 3:
                draw.polygon([(x - 1.0, y - 1.0) for x, y in vertices], fill=label)
        return np.asarray(mask).astype(np.int64)


def read_polygons(path: Path) -> np.ndarray:
    """The `polygons` struct array of a polygons.mat, flattened to one record per frame; a file that
    is not a MATLAB v5 struct array with the four hand fields is reported by path."""
    try:
        polygons = loadmat(path, variable_names=["polygons"]).get("polygons")
    except (MatReadError, NotImplementedError, OSError, ValueError) as error:
        raise DataCorrupt(f"{path}: cannot read as a MATLAB .mat ({error}); re-extract egohands_data.zip") from None
    if polygons is None or polygons.dtype.names is None or not set(CLASSES[1:]) <= set(polygons.dtype.names):
        raise DataCorrupt(
            f"{path}: no `polygons` struct array with fields {', '.join(CLASSES[1:])}; re-extract egohands_data.zip"
        )
    return polygons.ravel()
