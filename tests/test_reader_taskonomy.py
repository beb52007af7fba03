"""Taskonomy depth reader: the three official layouts, the split by building (official split file, else
seeded), pairing by the point/view prefix, value / 512 metres, 65535 as NaN, one-line errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import seeded_split
from tasks.readers.taskonomy import SPLIT_SEED, TaskonomyDepth
from tests.reader_base import ReaderTests
from tests.writers.images import rewrite_larger
from tests.writers.taskonomy import BUILDINGS, COUNTS, VIEWS, domain_folder, write_split_file, write_taskonomy

SEEDED = {"train": ["allensville", "beechwood", "collierville"], "test": ["ihlen"]}
"""The seeded split of the fixture's four buildings: seeded_split([4], 537), written out so a change
to the seed or the draw shows."""
LAYOUTS = ("original", "omnidata", "tars")


class TestOriginalLayout(ReaderTests):
    READER = TaskonomyDepth
    SPLITS = ("train", "test")
    DATA_FOLDER = "taskonomy"
    LAYOUT = "original"
    SPLIT_FILE: str | None = None

    def write_fixture(self, root: Path, split: str) -> int:
        write_taskonomy(root, layout=self.LAYOUT, split_file=self.SPLIT_FILE)
        return COUNTS[split]

    def depth_folder(self, root: Path, split: str) -> Path:
        return domain_folder(root / "taskonomy", self.LAYOUT, BUILDINGS[split][-1], "depth_zbuffer")

    def files_required(self, root: Path, split: str) -> list[Path]:
        depths = self.depth_folder(root, split)
        return [
            root / "taskonomy" / split / "rgb",
            depths.parent,
            depths,
            depths / "point_7_view_0_domain_depth_zbuffer.png",
        ]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(
            domain_folder(root / "taskonomy", self.LAYOUT, BUILDINGS[split][0], "rgb") / "point_0_view_1_domain_rgb.png"
        )
        return True


class TestOmnidataLayout(TestOriginalLayout):
    """The Omnidata downloader's tree with the official split file."""

    LAYOUT = "omnidata"
    SPLIT_FILE = "tiny"

    def files_required(self, root: Path, split: str) -> list[Path]:
        depths = self.depth_folder(root, split)
        return [root / "taskonomy" / "rgb" / "taskonomy", depths, depths / "point_7_view_0_domain_depth_zbuffer.png"]


class TestBuildingTarsLayout(TestOriginalLayout):
    """The per-building tars extracted, split by seed (no split file)."""

    LAYOUT = "tars"

    def write_fixture(self, root: Path, split: str) -> int:
        write_taskonomy(root, layout=self.LAYOUT)
        return len(SEEDED[split]) * len(VIEWS)

    def files_required(self, root: Path, split: str) -> list[Path]:
        depths = domain_folder(root / "taskonomy", self.LAYOUT, SEEDED[split][-1], "depth_zbuffer")
        return [depths, depths / "point_7_view_0_domain_depth_zbuffer.png"]


def test_views_are_sorted_by_building_and_paired_by_prefix(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    depths = folder / "train" / "depth_zbuffer" / "allensville"
    Image.fromarray(np.full((48, 64), 7, np.uint16)).save(depths / "point_3_view_0_domain_depth_zbuffer.png")
    reader = TaskonomyDepth(folder, "train")
    assert reader.image_ids() == [
        f"train/rgb/{building}/point_{point}_view_{view}_domain_rgb.png"
        for building in ("allensville", "beechwood")
        for point, view in ((0, 1), (7, 0))
    ]
    with Image.open(depths / "point_7_view_0_domain_depth_zbuffer.png") as image:
        assert np.array_equal(reader.target(1)[1:], np.asarray(image)[1:] / np.float32(512))
    assert reader.classes == ["depth"] and reader.labels().tolist() == [0] * 4
    assert reader.split_details() == {
        "layout": "original",
        "buildings": ["allensville", "beechwood"],
        "chosen_by": "the train/ folder",
    }


@pytest.mark.parametrize("split", ("train", "test"))
def test_every_layout_reads_the_same_views_of_the_same_buildings(tmp_path: Path, split: str) -> None:
    """The same download in each layout (split file present) gives the same samples; only the ids'
    folders differ."""
    readers = {
        layout: TaskonomyDepth(write_taskonomy(tmp_path / layout, layout=layout, split_file="tiny"), split)
        for layout in LAYOUTS
    }
    building = BUILDINGS[split][0]
    view = "point_0_view_1_domain_rgb.png"
    assert [reader.image_ids()[0] for reader in readers.values()] == [
        f"{split}/rgb/{building}/{view}",
        f"rgb/taskonomy/{building}/{view}",
        f"{building}/rgb/{view}",
    ]
    original = readers["original"]
    for reader in readers.values():
        assert reader.buildings == list(BUILDINGS[split]) and len(reader) == COUNTS[split]
        for index in range(len(reader)):
            assert np.array_equal(reader.image(index), original.image(index))
            assert np.array_equal(reader.target(index), original.target(index), equal_nan=True)
    assert readers["tars"].split_details() == {
        "layout": "tars",
        "buildings": list(BUILDINGS[split]),
        "chosen_by": "splits_taskonomy/train_val_test_tiny.csv",
    }


def test_split_file_gives_train_and_test_rows_of_the_buildings_found(tmp_path: Path) -> None:
    """Listed but absent buildings are skipped, val rows and unlisted buildings not read, and the
    largest split file present is the one read."""
    folder = write_taskonomy(tmp_path, layout="tars", split_file="tiny")
    assert b"\n" not in (folder / "splits_taskonomy" / "train_val_test_tiny.csv").read_bytes()
    shutil.copytree(folder / "ihlen", folder / "zoar")
    train, test = TaskonomyDepth(folder, "train"), TaskonomyDepth(folder, "test")
    assert train.buildings == ["allensville", "beechwood"] and test.buildings == ["ihlen"]
    write_split_file(
        folder / "splits_taskonomy" / "train_val_test_fullplus.csv",
        {"train": ("allensville", "zoar"), "val": ("beechwood",), "test": ("collierville", "ihlen")},
    )
    train, test = TaskonomyDepth(folder, "train"), TaskonomyDepth(folder, "test")
    assert train.buildings == ["allensville", "zoar"] and test.buildings == ["collierville", "ihlen"]
    assert train.image_ids()[-1] == "zoar/rgb/point_7_view_0_domain_rgb.png"
    assert test.chosen_by == "splits_taskonomy/train_val_test_fullplus.csv"


def test_seeded_split_is_reproducible_and_documented(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path, layout="omnidata")
    readers = {split: TaskonomyDepth(folder, split) for split in ("train", "test")}
    assert {split: reader.buildings for split, reader in readers.items()} == SEEDED
    found = sorted(SEEDED["train"] + SEEDED["test"])
    assert [building for building, train in zip(found, seeded_split([4], SPLIT_SEED)[0]) if train] == SEEDED["train"]
    assert readers["test"].chosen_by == "seed 537 over the 4 buildings found"
    assert SPLIT_SEED == 537 and "SPLIT_SEED = 537" in TaskonomyDepth.__doc__
    assert TaskonomyDepth(folder, "train").manifest_digest == readers["train"].manifest_digest


def test_manifest_follows_the_building_split(tmp_path: Path) -> None:
    seeded = TaskonomyDepth(write_taskonomy(tmp_path / "a", layout="tars"), "train")
    folder = write_taskonomy(tmp_path / "b", layout="tars", split_file="medium")
    listed = TaskonomyDepth(folder, "train")
    assert seeded.buildings != listed.buildings and seeded.manifest_digest != listed.manifest_digest
    write_split_file(
        folder / "splits_taskonomy" / "train_val_test_medium.csv",
        {"train": ("allensville",), "val": ("collierville",), "test": ("beechwood", "ihlen")},
    )
    moved = TaskonomyDepth(folder, "train")
    assert moved.buildings == ["allensville"] and moved.manifest_digest != listed.manifest_digest


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_depth_partner_is_named_with_its_view(tmp_path: Path, layout: str) -> None:
    folder = write_taskonomy(tmp_path, layout=layout, split_file="tiny")
    missing = domain_folder(folder, layout, "beechwood", "depth_zbuffer") / "point_0_view_1_domain_depth_zbuffer.png"
    missing.unlink()
    view = domain_folder(folder, layout, "beechwood", "rgb") / "point_0_view_1_domain_rgb.png"
    with pytest.raises(DataNotFound, match=re.escape(f"{missing}: missing, though {view} exists")):
        TaskonomyDepth(folder, "train")


def test_split_left_without_a_building_fails_naming_the_file(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path, layout="tars", split_file="full")
    path = write_split_file(
        folder / "splits_taskonomy" / "train_val_test_full.csv",
        {"train": BUILDINGS["train"], "val": ("ihlen",), "test": ("muleshoe",)},
    )
    with pytest.raises(DataNotFound, match=re.escape(f"{path}: none of its 1 test buildings is in {folder}")) as error:
        TaskonomyDepth(folder, "test")
    assert "\n" not in str(error.value)
    lone = write_taskonomy(tmp_path / "lone", layout="omnidata")
    for building in ("beechwood", "collierville", "ihlen"):
        for image in domain_folder(lone, "omnidata", building, "rgb").iterdir():
            image.unlink()
        domain_folder(lone, "omnidata", building, "rgb").rmdir()
    with pytest.raises(DataNotFound, match=re.escape(f"{lone}: one building (allensville)")):
        TaskonomyDepth(lone, "train")


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"building,train,val,test\rihlen,0,0,1", "the first line is not the header id,train,val,test"),
        (b"id,train,val,test\rihlen,1,0,1", "line 2: 'ihlen,1,0,1' is not <building>,<train>,<val>,<test>"),
        (b"id,train,val,test\r\rihlen,0,1", "line 3: 'ihlen,0,1' is not"),
        (
            b"id,train,val,test\r../ihlen,0,0,1",
            "line 2: building '../ihlen' is not a folder name inside the data folder",
        ),
        (b"id,train,val,test\r/srv/ihlen,0,0,1", "line 2: building '/srv/ihlen' is not a folder name"),
        (b"id,train,val,test\rihlen,0,0,1\rihlen,1,0,0", "line 3: building 'ihlen' is listed twice"),
        (b"id,train,val,test\r\xff\xfe,0,0,1", "cannot read it as text"),
    ],
    ids=("header", "two-flags", "short-row", "parent-path", "absolute-path", "listed-twice", "not-utf8"),
)
def test_malformed_split_file_is_one_line_naming_it(tmp_path: Path, content: bytes, problem: str) -> None:
    folder = write_taskonomy(tmp_path, layout="tars")
    path = folder / "splits_taskonomy" / "train_val_test_tiny.csv"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(DataCorrupt, match=re.escape(f"{path}: ")) as error:
        TaskonomyDepth(folder, "train")
    message = str(error.value)
    assert problem in message and "\n" not in message and message.endswith("re-extract splits_taskonomy.zip")


def test_folder_without_a_layout_names_it_and_the_trees(tmp_path: Path) -> None:
    """The split files and the zip's __MACOSX folder alone are not buildings."""
    folder = tmp_path / "taskonomy"
    write_split_file(folder / "splits_taskonomy" / "train_val_test_tiny.csv", {"train": ("allensville",)})
    (folder / "__MACOSX" / "splits_taskonomy").mkdir(parents=True)
    with pytest.raises(DataNotFound, match=re.escape(f"{folder}: no building folders with rgb views")) as error:
        TaskonomyDepth(folder, "train")
    for tree in (
        "taskonomy/<building>/{rgb,depth_zbuffer}/",
        "taskonomy/{rgb,depth_zbuffer}/taskonomy/<building>/",
        "taskonomy/{train,test}/{rgb,depth_zbuffer}/<building>/",
    ):
        assert tree in str(error.value)
    assert "\n" not in str(error.value)


def test_depth_is_value_over_512_metres_and_65535_is_nan(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    reader = TaskonomyDepth(folder, "test")
    with Image.open(folder / "test" / "depth_zbuffer" / "ihlen" / "point_7_view_0_domain_depth_zbuffer.png") as image:
        written = np.asarray(image)
    depth = reader.target(1)
    assert written.dtype == np.uint16 and depth.dtype == np.float32 and depth.shape == reader.image(1).shape[:2]
    assert np.isnan(depth[0, 0]) and depth[0, 1] == 2.0 and np.isnan(depth).sum() == 1
    assert np.array_equal(depth.ravel()[1:], written.ravel()[1:] / np.float32(512))


def test_empty_split_and_8_bit_depth_are_refused(tmp_path: Path) -> None:
    folder = write_taskonomy(tmp_path)
    path = folder / "train" / "depth_zbuffer" / "allensville" / "point_7_view_0_domain_depth_zbuffer.png"
    Image.fromarray(np.full((48, 64), 9, np.uint8)).save(path)
    with pytest.raises(DataCorrupt, match=str(path)):
        TaskonomyDepth(folder, "train").target(1)
    for view in (folder / "test" / "rgb" / "ihlen").iterdir():
        view.unlink()
    with pytest.raises(DataNotFound, match=re.escape(f"{folder}: no *_domain_rgb.png views in the 1 test building(s)")):
        TaskonomyDepth(folder, "test")
