"""The reader contract: a dataset split in its official layout, as raw uint8 images and labels."""
from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Iterable

import numpy as np
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound


class Reader(ABC):
    """A split of one dataset, read from the files users download.

    Readers know nothing of encoders or heads: they index the split at construction (so a missing
    or malformed file fails at once, naming the file) and decode one image at a time on demand.
    `image_ids` names each image in a way stable across machines; together with
    `content_digest` it identifies the image set in cache keys and results. For single-image
    tasks a sample is an image and `labels()` is aligned with the images; multi-frame tasks
    subclass FrameReader.
    """

    SPLITS: ClassVar[tuple[str, ...]]
    LAYOUT: ClassVar[str]

    def __init__(self, root: str | Path, split: str) -> None:
        if split not in self.SPLITS:
            raise ValueError(f"unknown split {split!r} for {type(self).__name__}; valid: {', '.join(self.SPLITS)}")
        self.root = Path(root)
        self.split = split

    def require(self, path: Path) -> Path:
        """Return `path` if it exists, else raise naming it and the layout expected."""
        if not path.exists():
            raise DataNotFound(f"{path}: missing; expected {self.LAYOUT}")
        return path

    @abstractmethod
    def __len__(self) -> int:
        """Number of images in the split."""

    @abstractmethod
    def image(self, index: int) -> np.ndarray:
        """Image `index` as an (H, W, 3) uint8 RGB array."""

    @abstractmethod
    def labels(self) -> np.ndarray:
        """Every sample's label, in sample order, as an int64 array."""

    @abstractmethod
    def image_ids(self) -> list[str]:
        """A stable name per image, in index order (e.g. the path relative to the data folder)."""

    @abstractmethod
    def content_digest(self) -> str:
        """A digest of the split's source files, so edited data never reuses an old cache."""

    @functools.cached_property
    def manifest_digest(self) -> str:
        """sha256 over the ordered sample ids and the content digest: the image set's identity."""
        digest = hashlib.sha256()
        digest.update(self.content_digest().encode())
        for image_id in self.image_ids():
            digest.update(image_id.encode())
            digest.update(b"\0")
        return digest.hexdigest()


class FrameReader(Reader):
    """A split whose samples are FRAMES images each, in time order (egomotion pairs, video clips).

    The images (`__len__`, `image`, `image_ids`) are the individual frames, so features are cached
    per frame and shared by every sample that uses a frame; `samples()` says which frames make
    each sample and `labels()` has one label per sample.
    """

    FRAMES: ClassVar[int]

    @abstractmethod
    def samples(self) -> np.ndarray:
        """(S, FRAMES) int64 frame indices of every sample, each row in time order."""


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB (grayscale, CMYK, palette and RGBA converted);
    an unreadable file is reported by path."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise DataNotFound(f"{path}: missing image; the dataset folder is incomplete, re-extract it") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataCorrupt(f"{path}: cannot decode image ({error}); re-download the file or remove it "
                          "together with its entry in the split list") from None


def listing_digest(root: Path, paths: Iterable[Path]) -> str:
    """sha256 over each file's path relative to `root` and its size: cheap enough for 1.3M images,
    and it changes when a file is added, removed, renamed or rewritten at another size."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
    return digest.hexdigest()


def file_sha256(path: Path, block_size: int = 1 << 22) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block_size):
            digest.update(chunk)
    return digest.hexdigest()
