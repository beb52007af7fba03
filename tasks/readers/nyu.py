"""NYU Depth V2 depth and walkable-surface tasks (the original code's nyu.zip, extracted), and depth
also from the official labelled dataset (nyu_depth_v2_labeled.mat with splits.mat)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import DenseReader, FileListReader, combined_digest, file_sha256, image_files, load_map

LAYOUT = "nyu/{train,test}/images/*.png with nyu/{train,test}/depths/*.tiff and walkable/*.png (nyu.zip, extracted)"

MAT_NAME, SPLITS_NAME = "nyu_depth_v2_labeled.mat", "splits.mat"
MAT_LAYOUT = f"nyu/{MAT_NAME} (MATLAB v7.3) with nyu/{SPLITS_NAME} (the official labelled dataset and split)"
SPLIT_VARIABLES = {"train": "trainNdxs", "test": "testNdxs"}
"""The splits.mat variable holding each split's 1-based frame numbers (795 train, 654 test)."""

IDENTITY_SPAN = 4 << 20
"""Bytes read from each end of the 2.8 GB .mat for its content identity (see `head_tail_digest`)."""


class _NyuReader(DenseReader, FileListReader):
    """The shared indexing of both NYU tasks in the original layout: the split's images and one target
    folder, each sorted by name and paired in that order, as the original code zipped them (its file
    names are not guaranteed to share stems, so equal counts are the check)."""

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
            raise DataCorrupt(
                f"{images} holds {len(self._paths)} images but {targets} {len(self._target_paths)} "
                f"maps; they pair in sorted order, so the counts must match and be non-zero "
                f"(expected {LAYOUT})"
            )


class _NyuDepthFolders(_NyuReader):
    """NyuDepth on the original code's folders."""

    TARGET = "depth"
    TARGET_FOLDER = "depths"
    TARGET_SUFFIXES = (".tiff", ".tif")

    def target(self, index: int) -> np.ndarray:
        path = self._target_paths[index]
        depth = load_map(path)
        if depth.dtype.kind != "f":
            raise DataCorrupt(f"{path}: {depth.dtype} values, expected a float TIFF of metres; re-extract nyu.zip")
        return metres(depth)


class _NyuDepthMat(DenseReader):
    """NyuDepth on the official labelled .mat (which NyuDepth has found), an HDF5 file opened per call
    (an h5py handle must not cross into forked DataLoader workers), so the reader holds none."""

    SPLITS = ("train", "test")
    TARGET = "depth"
    LAYOUT = MAT_LAYOUT

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.mat_path = self.root / MAT_NAME
        self.splits_path = self.require(self.root / SPLITS_NAME)
        with open_mat(self.mat_path) as mat:
            images, depths = mat_variable(mat, self.mat_path, "images"), mat_variable(mat, self.mat_path, "depths")
            count = images.shape[0]
            if (
                images.dtype != np.uint8
                or images.ndim != 4
                or images.shape[1] != 3
                or depths.dtype.kind != "f"
                or depths.shape != (count, *images.shape[2:])
            ):
                raise DataCorrupt(
                    f"{self.mat_path}: images {images.dtype} {images.shape} and depths {depths.dtype} "
                    f"{depths.shape}, expected uint8 (N, 3, W, H) and float (N, W, H); re-download it"
                )
        self._numbers = read_split(self.splits_path, SPLIT_VARIABLES[split], count)

    def __len__(self) -> int:
        return len(self._numbers)

    def image(self, index: int) -> np.ndarray:
        """h5py sees MATLAB's 480x640x3xN with the axes reversed, so transposing (never reshaping)
        gives (H, W, 3)."""
        with open_mat(self.mat_path) as mat:
            return np.ascontiguousarray(mat["images"][self._numbers[index] - 1].transpose(2, 1, 0))

    def target(self, index: int) -> np.ndarray:
        with open_mat(self.mat_path) as mat:
            return metres(np.ascontiguousarray(mat["depths"][self._numbers[index] - 1].T))

    def image_ids(self) -> list[str]:
        return [f"{MAT_NAME}#{number:04d}" for number in self._numbers]

    def content_digest(self) -> str:
        return combined_digest(head_tail_digest(self.mat_path), file_sha256(self.splits_path))


class NyuDepth(DenseReader):
    """NYU depth prediction, from whichever of two layouts the data folder holds.

    Tree under the task's data folder (`<data-root>/nyu`, the original code's name), either the
    original code's nyu.zip, on its split (1,159 train, 290 test of the 1,449 labelled frames)::

        nyu/
            {train,test}/images/*.png      8-bit RGB, 640x480
            {train,test}/depths/*.tiff     float depth in metres, same size, paired by sorted name
            {train,test}/walkable/*.png    (read by NyuWalkable)

    or the official labelled dataset, on the official split (795 train, 654 test)::

        nyu/
            nyu_depth_v2_labeled.mat       MATLAB v7.3 (HDF5): `images` uint8 and `depths` float32 metres
                                           (the in-painted depth), 480x640 per frame, stored axes-reversed
                                           as h5py (1449, 3, 640, 480) and (1449, 640, 480)
            splits.mat                     MATLAB v5: `trainNdxs`, `testNdxs`, 1-based frame numbers

    The split's `images` folder decides: present, the original layout is read (also when the .mat
    is there too); absent, the .mat files are. The two splits differ, and so do their manifests.
    In the .mat layout image ids are `nyu_depth_v2_labeled.mat#<number>` (1-based, 4 digits), and
    the content digest joins `head_tail_digest` of the .mat with the sha256 of splits.mat.

    `target(i)` is float32 (H, W) metres, NaN where the depth is zero, negative or not finite.
    """

    SPLITS = ("train", "test")
    TARGET = "depth"
    LAYOUT = f"{LAYOUT}, or {MAT_LAYOUT}"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [self.TARGET]
        images, mat = self.root / split / "images", self.root / MAT_NAME
        if images.exists():
            self._layout: DenseReader = _NyuDepthFolders(self.root, split)
        elif mat.exists():
            self._layout = _NyuDepthMat(self.root, split)
        else:
            raise DataNotFound(f"{images}: missing, and so is {mat}; expected {self.LAYOUT}")

    def __len__(self) -> int:
        return len(self._layout)

    def image(self, index: int) -> np.ndarray:
        return self._layout.image(index)

    def target(self, index: int) -> np.ndarray:
        return self._layout.target(index)

    def image_ids(self) -> list[str]:
        return self._layout.image_ids()

    def content_digest(self) -> str:
        return self._layout.content_digest()


class NyuWalkable(_NyuReader):
    """NYU walkable-surface segmentation on the original code's split (see NyuDepth for the tree):
    `{train,test}/walkable/*.png` masks paired with the images by sorted name. `target(i)` is int64
    (H, W): 1 walkable where the mask is non-zero, else 0 (named by `classes`), as the original code
    binarised it. Only the original layout has the masks: the official .mat has none.
    """

    TARGET = "classes"
    LAYOUT = f"{LAYOUT}; the official {MAT_NAME} has no walkable masks"
    TARGET_FOLDER = "walkable"
    TARGET_SUFFIXES = (".png",)

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = ["not walkable", "walkable"]

    def target(self, index: int) -> np.ndarray:
        return (load_map(self._target_paths[index]) != 0).astype(np.int64)


def metres(depth: np.ndarray) -> np.ndarray:
    """Depth in metres as float32, NaN where the value is zero, negative or not finite (no reading)."""
    depth = depth.astype(np.float32)
    depth[~(depth > 0) | ~np.isfinite(depth)] = np.nan
    return depth


def open_mat(path: Path) -> h5py.File:
    """Open a MATLAB v7.3 .mat read-only; a file that is not HDF5 is reported by path."""
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataCorrupt(f"{path}: cannot open as a MATLAB v7.3 (HDF5) file ({error}); re-download it") from None


def mat_variable(mat: h5py.File, path: Path, name: str) -> h5py.Dataset:
    """The numeric variable `name` of an open .mat, or DataCorrupt naming the file."""
    variable = mat.get(name)
    if not isinstance(variable, h5py.Dataset):
        raise DataCorrupt(f"{path}: no `{name}` array; re-download {MAT_NAME}")
    return variable


def read_split(path: Path, name: str, count: int) -> np.ndarray:
    """The 1-based frame numbers in variable `name` of splits.mat as int64, each checked to be a
    whole number in 1..count (the frames in the .mat)."""
    try:
        values = loadmat(path, variable_names=[name]).get(name)
    except (MatReadError, NotImplementedError, OSError, ValueError) as error:
        raise DataCorrupt(f"{path}: cannot read as a MATLAB .mat ({error}); re-download {SPLITS_NAME}") from None
    if values is None or values.dtype.kind not in "uif" or not values.size:
        raise DataCorrupt(f"{path}: no numeric `{name}`; re-download {SPLITS_NAME}")
    numbers = values.ravel()
    if np.any(numbers != np.round(numbers)) or numbers.min() < 1 or numbers.max() > count:
        raise DataCorrupt(
            f"{path}: `{name}` holds values outside the whole numbers 1..{count} of {MAT_NAME}; "
            f"re-download {SPLITS_NAME}"
        )
    return numbers.astype(np.int64)


def head_tail_digest(path: Path, span: int = IDENTITY_SPAN) -> str:
    """sha256 over a file's size and its first and last `span` bytes (the whole file when it is at
    most 2 * span): the identity of a 2.8 GB download for 8 MB of reading. Another download or
    version differs in size or at its ends (HDF5 keeps its superblock at the start and its indexes
    at the end); only a same-size edit confined to the middle would go unnoticed."""
    size = path.stat().st_size
    digest = hashlib.sha256(f"{size}\0".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(span))
        handle.seek(max(size - span, span))
        digest.update(handle.read())
    return digest.hexdigest()
