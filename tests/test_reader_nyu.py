"""NYU readers (original layout): sorted pairing, depth in metres with holes as NaN, binary walkable masks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt
from tasks.readers.nyu import NyuDepth, NyuWalkable
from tests.reader_base import ReaderTests
from tests.writers.images import rewrite_larger
from tests.writers.nyu import COUNTS, write_nyu


class TestNyuDepth(ReaderTests):
    READER = NyuDepth
    SPLITS = ("train", "test")
    DATA_FOLDER = "nyu"

    def write_fixture(self, root: Path, split: str) -> int:
        write_nyu(root)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "nyu" / split / "images", root / "nyu" / split / self.READER.TARGET_FOLDER]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / "nyu" / split / "images" / "00001.png")
        return True


class TestNyuWalkable(TestNyuDepth):
    READER = NyuWalkable


def test_depth_is_metres_with_holes_as_nan(tmp_path: Path) -> None:
    folder = write_nyu(tmp_path)
    reader = NyuDepth(folder, "train")
    with Image.open(folder / "train" / "depths" / "00002.tiff") as image:
        written = np.asarray(image)
    depth = reader.target(2)
    assert depth.dtype == np.float32 and depth.shape == reader.image(2).shape[:2]
    assert np.isnan(depth[0, 0]) and np.array_equal(depth.ravel()[1:], written.ravel()[1:])
    assert reader.classes == ["depth"] and reader.labels().tolist() == [0] * 4


def test_walkable_is_mask_nonzero(tmp_path: Path) -> None:
    folder = write_nyu(tmp_path)
    reader = NyuWalkable(folder, "test")
    with Image.open(folder / "test" / "walkable" / "00001.png") as image:
        mask = np.asarray(image)
    target = reader.target(1)
    assert target.dtype == np.int64 and np.array_equal(target, (mask != 0).astype(np.int64))
    assert set(np.unique(target).tolist()) == {0, 1} and reader.classes == ["not walkable", "walkable"]


def test_unpaired_files_and_integer_depth_are_refused(tmp_path: Path) -> None:
    folder = write_nyu(tmp_path)
    (folder / "test" / "walkable" / "00001.png").unlink()
    with pytest.raises(DataCorrupt, match="holds 2 images but .*walkable 1 maps"):
        NyuWalkable(folder, "test")
    path = folder / "test" / "depths" / "00000.tiff"
    Image.fromarray(np.full((4, 4), 3, np.uint8)).save(path)
    with pytest.raises(DataCorrupt, match=str(path)):
        NyuDepth(folder, "test").target(0)
