"""THOR depth reader: scenes and views in sorted order, pairing per scene, depth as value / 255."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.thor_depth import ThorDepth
from tests.reader_base import ReaderTests
from tests.writers.images import rewrite_larger, save_jpeg
from tests.writers.thor_depth import COUNTS, SCENES, write_thor_depth


class TestThorDepth(ReaderTests):
    READER = ThorDepth
    SPLITS = ("train", "test")
    DATA_FOLDER = "thor_depth_prediction"

    def write_fixture(self, root: Path, split: str) -> int:
        write_thor_depth(root)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "thor_depth_prediction" / split]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / "thor_depth_prediction" / split / SCENES[split][0] / "000000_rgb.jpg")
        return True


def test_views_are_sorted_by_scene_then_name(tmp_path: Path) -> None:
    reader = ThorDepth(write_thor_depth(tmp_path), "train")
    assert reader.image_ids() == [
        f"train/{scene}/{number:06d}_rgb.jpg" for scene in ("FloorPlan1", "FloorPlan10") for number in (0, 1)
    ]
    assert reader.classes == ["depth"] and reader.TARGET == "depth" and reader.labels().tolist() == [0] * 4


def test_depth_is_the_jpeg_value_over_255(tmp_path: Path) -> None:
    folder = write_thor_depth(tmp_path)
    path = folder / "test" / "FloorPlan5" / "000001_depth.jpg"
    Image.fromarray(np.full((48, 64), 204, np.uint8)).save(path, quality=95)
    reader = ThorDepth(folder, "test")
    depth = reader.target(1)
    assert depth.dtype == np.float32 and depth.shape == reader.image(1).shape[:2]
    assert np.all(depth == np.float32(204 / 255))
    with Image.open(folder / "test" / "FloorPlan5" / "000000_depth.jpg") as image:
        assert np.array_equal(reader.target(0), np.asarray(image).astype(np.float32) / 255)


def test_unequal_counts_in_a_scene_and_empty_split_are_named(tmp_path: Path) -> None:
    folder = write_thor_depth(tmp_path)
    (folder / "train" / "FloorPlan10" / "000001_depth.jpg").unlink()
    with pytest.raises(DataCorrupt, match=f"{folder / 'train' / 'FloorPlan10'}: 2 \\*rgb.jpg views but 1"):
        ThorDepth(folder, "train")
    for path in (folder / "test" / "FloorPlan5").iterdir():
        path.unlink()
    with pytest.raises(DataNotFound, match="no <scene>/\\*rgb.jpg views"):
        ThorDepth(folder, "test")


def test_colour_depth_jpeg_reads_as_its_luminance_like_the_original(tmp_path: Path) -> None:
    folder = write_thor_depth(tmp_path)
    path = folder / "test" / "FloorPlan5" / "000000_depth.jpg"
    save_jpeg(np.full((48, 64, 3), 200, np.uint8), path)
    depth = ThorDepth(folder, "test").target(0)
    assert depth.shape == (48, 64) and np.allclose(depth, 200 / 255, atol=2 / 255)
