"""CIFAR-100, python version (the official `cifar-100-python.tar.gz`, extracted)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from tasks.errors import DataCorrupt
from tasks.readers.base import Reader, file_sha256

IMAGE_SHAPE = (3, 32, 32)


def _text(value: Any) -> Any:
    """Pickles written by Python 2 load with bytes keys and names; normalise them to str."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def load_pickle(path: Path, required: tuple[str, ...]) -> dict[str, Any]:
    """Load one CIFAR pickle and check it holds the keys the format promises."""
    try:
        with open(path, "rb") as handle:
            raw = pickle.load(handle, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as error:
        raise DataCorrupt(
            f"{path}: not a CIFAR-100 python pickle ({error}); re-extract cifar-100-python.tar.gz"
        ) from None
    if not isinstance(raw, dict):
        raise DataCorrupt(f"{path}: holds a {type(raw).__name__}, expected the CIFAR-100 dict; re-extract the archive")
    content = {_text(key): value for key, value in raw.items()}
    absent = [key for key in required if key not in content]
    if absent:
        raise DataCorrupt(
            f"{path}: missing key(s) {', '.join(absent)}; is this CIFAR-10 or another file? "
            "re-extract cifar-100-python.tar.gz"
        )
    return content


class Cifar100(Reader):
    """CIFAR-100 in the official python layout.

    Tree under the task's data folder (`<data-root>/cifar-100-python`)::

        cifar-100-python/
            train   pickle: {'filenames': [50000 names], 'batch_label', 'fine_labels': [50000 ints 0..99],
                             'coarse_labels', 'data': uint8 (50000, 3072)}
            test    the same with 10000 images
            meta    pickle: {'fine_label_names': [100 names], 'coarse_label_names': [20 names]}

    `data` rows hold 1024 red, 1024 green, then 1024 blue bytes, each a 32x32 row-major plane.
    `image(i)` returns (32, 32, 3) uint8 RGB; labels are the fine labels (100 classes).
    """

    SPLITS = ("train", "test")
    LAYOUT = "the official cifar-100-python folder (train, test, meta pickles from cifar-100-python.tar.gz)"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.path = self.require(self.root / split)
        meta = load_pickle(self.require(self.root / "meta"), ("fine_label_names",))
        self.classes = [_text(name) for name in meta["fine_label_names"]]
        content = load_pickle(self.path, ("data", "fine_labels", "filenames"))
        data = np.asarray(content["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
            raise DataCorrupt(f"{self.path}: 'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
        self._labels = np.asarray(content["fine_labels"], dtype=np.int64)
        self._ids = [_text(name) for name in content["filenames"]]
        if not len(data) == len(self._labels) == len(self._ids):
            raise DataCorrupt(
                f"{self.path}: {len(data)} images, {len(self._labels)} labels and "
                f"{len(self._ids)} filenames; the file is damaged, re-extract the archive"
            )
        if len(self._labels) and not (0 <= self._labels.min() and self._labels.max() < len(self.classes)):
            raise DataCorrupt(f"{self.path}: fine labels outside 0..{len(self.classes) - 1}")
        self._images = data.reshape(-1, *IMAGE_SHAPE).transpose(0, 2, 3, 1)

    def __len__(self) -> int:
        return len(self._labels)

    def image(self, index: int) -> np.ndarray:
        return np.ascontiguousarray(self._images[index])

    def labels(self) -> np.ndarray:
        return self._labels

    def image_ids(self) -> list[str]:
        return [f"{self.split}/{name}" for name in self._ids]

    def content_digest(self) -> str:
        return file_sha256(self.path)
