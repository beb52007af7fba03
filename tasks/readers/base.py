"""The reader contract: a dataset split in its official layout, as raw uint8 images and labels."""
from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from tasks.errors import DataNotFound


class Reader(ABC):
    """A split of one dataset, read from the files users download.

    Readers know nothing of encoders or heads: they index the split at construction (so a missing
    or malformed file fails at once, naming the file) and decode one image at a time on demand.
    `sample_ids` names each image in a way stable across machines; together with
    `content_digest` it identifies the image set in cache keys and results.
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
        """Every image's label, in index order, as an int64 array."""

    @abstractmethod
    def sample_ids(self) -> list[str]:
        """A stable name per image, in index order."""

    @abstractmethod
    def content_digest(self) -> str:
        """A digest of the split's source files, so edited data never reuses an old cache."""

    @functools.cached_property
    def manifest_digest(self) -> str:
        """sha256 over the ordered sample ids and the content digest: the image set's identity."""
        digest = hashlib.sha256()
        digest.update(self.content_digest().encode())
        for sample_id in self.sample_ids():
            digest.update(sample_id.encode())
            digest.update(b"\0")
        return digest.hexdigest()


def file_sha256(path: Path, block_size: int = 1 << 22) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block_size):
            digest.update(chunk)
    return digest.hexdigest()
