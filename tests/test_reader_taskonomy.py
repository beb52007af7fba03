"""Taskonomy depth reader: pairing by the point/view prefix, value / 512 metres, 65535 as NaN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.taskonomy import TaskonomyDepth
from tests.reader_base import ReaderTests
from tests.writers.images import rewrite_larger
from tests.writers.taskonomy import BUILDINGS, COUNTS, write_taskonomy


class TestTaskonomyDepth(ReaderTests):
    READER = TaskonomyDepth
    SPLITS = ("train", "test")
    DATA_FOLDER = "taskonomy"

    def write_fixture(self, root: Path, split: str) -> int:
        write_taskonomy(root)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / "taskonomy" / split
        building = BUILDINGS[split][-1]
        return [folder / "rgb", folder / "depth_zbuffer", folder / "depth_zbuffer" / building,
                folder / "depth_zbuffer" / building / "point_7_view_0_domain_depth_zbuffer.png"]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / "taskonomy" / split / "rgb" / BUILDINGS[split][0] / "point_0_view_1_domain_rgb.png")
        return True


def test_views_are_sorted_by_building_and_paired_by_prefix(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    depths = folder / "train" / "depth_zbuffer" / "allensville"
    Image.fromarray(np.full((48, 64), 7, np.uint16)).save(depths / "point_3_view_0_domain_depth_zbuffer.png")
    reader = TaskonomyDepth(folder, "train")
    assert reader.image_ids() == [f"train/rgb/{building}/point_{point}_view_{view}_domain_rgb.png"
                                  for building in ("allensville", "beechwood") for point, view in ((0, 1), (7, 0))]
    with Image.open(depths / "point_7_view_0_domain_depth_zbuffer.png") as image:
        assert np.array_equal(reader.target(1)[1:], np.asarray(image)[1:] / np.float32(512))
    assert reader.classes == ["depth"] and reader.labels().tolist() == [0] * 4


def test_depth_is_value_over_512_metres_and_65535_is_nan(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    reader = TaskonomyDepth(folder, "test")
    with Image.open(folder / "test" / "depth_zbuffer" / "collierville" / "point_7_view_0_domain_depth_zbuffer.png") \
            as image:
        written = np.asarray(image)
    depth = reader.target(1)
    assert written.dtype == np.uint16 and depth.dtype == np.float32 and depth.shape == reader.image(1).shape[:2]
    assert np.isnan(depth[0, 0]) and depth[0, 1] == 2.0 and np.isnan(depth).sum() == 1
    assert np.array_equal(depth.ravel()[1:], written.ravel()[1:] / np.float32(512))


def test_missing_depth_partner_is_named_with_its_view(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    missing = folder / "train" / "depth_zbuffer" / "beechwood" / "point_0_view_1_domain_depth_zbuffer.png"
    missing.unlink()
    view = folder / "train" / "rgb" / "beechwood" / "point_0_view_1_domain_rgb.png"
    with pytest.raises(DataNotFound, match=f"{missing}: missing, though {view} exists"):
        TaskonomyDepth(folder, "train")


def test_empty_split_and_8_bit_depth_are_refused(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    path = folder / "train" / "depth_zbuffer" / "allensville" / "point_7_view_0_domain_depth_zbuffer.png"
    Image.fromarray(np.full((48, 64), 9, np.uint8)).save(path)
    with pytest.raises(DataCorrupt, match=str(path)):
        TaskonomyDepth(folder, "train").target(1)
    for view in (folder / "test" / "rgb" / "collierville").iterdir():
        view.unlink()
    with pytest.raises(DataNotFound, match="no <building>/\\*_domain_rgb.png views"):
        TaskonomyDepth(folder, "test")
