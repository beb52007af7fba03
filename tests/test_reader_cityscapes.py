"""Cityscapes reader: sorted cities and frames, labelId -> trainId mapping, missing maps, damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.cityscapes import CityscapesSegmentation
from tests.reader_base import ReaderTests
from tests.writers.cityscapes import write_cityscapes
from tests.writers.images import rewrite_larger

COUNTS = {"train": 4, "val": 2}
STEM = "frankfurt_000001_000038"


class TestCityscapesSegmentation(ReaderTests):
    READER = CityscapesSegmentation
    SPLITS = ("train", "val")
    DATA_FOLDER = "cityscapes"

    def write_fixture(self, root: Path, split: str) -> int:
        write_cityscapes(root, per_city=2)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / "cityscapes"
        city = "bochum" if split == "train" else "frankfurt"
        stem = f"{city}_000001_000038"
        return [
            folder / "leftImg8bit" / split,
            folder / "gtFine" / split,
            folder / "gtFine" / split / city,
            folder / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
        ]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        city = "aachen" if split == "train" else "frankfurt"
        rewrite_larger(root / "cityscapes" / "leftImg8bit" / split / city / f"{city}_000000_000019_leftImg8bit.png")
        return True


def test_samples_are_sorted_by_city_then_frame(tmp_path: Path) -> None:
    folder = write_cityscapes(tmp_path, per_city=2)
    reader = CityscapesSegmentation(folder, "train")
    assert reader.image_ids() == [
        f"leftImg8bit/train/{city}/{city}_00000{n}_0000{19 * n + 19:02d}_leftImg8bit.png"
        for city in ("aachen", "bochum")
        for n in (0, 1)
    ]
    assert reader.labels().tolist() == [0, 0, 0, 0] and reader.TARGET == "classes"
    assert len(reader.classes) == 19 and reader.classes[0] == "road" and reader.classes[18] == "bicycle"


def test_label_ids_map_to_train_ids_and_void_to_255(tmp_path: Path) -> None:
    folder = write_cityscapes(tmp_path, per_city=1)
    label_ids = np.array(
        [
            [7, 8, 11, 12, 13, 17, 19, 20, 21, 22],
            [23, 24, 25, 26, 27, 28, 31, 32, 33, 0],
            [1, 2, 3, 4, 5, 6, 9, 10, 14, 15],
            [16, 18, 29, 30, 34, 200, 255, 7, 7, 7],
        ],
        np.uint8,
    )
    path = folder / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000019_gtFine_labelIds.png"
    Image.fromarray(label_ids).save(path)
    target = CityscapesSegmentation(folder, "val").target(0)
    assert target.dtype == np.int64 and target.shape == (4, 10)
    assert target[:2].ravel()[:19].tolist() == list(range(19))
    assert np.all(target[1, 9:] == 255) and np.all(target[2] == 255) and np.all(target[3, :7] == 255)


def test_target_has_the_image_resolution_and_follows_its_colours(tmp_path: Path) -> None:
    reader = CityscapesSegmentation(write_cityscapes(tmp_path), "train")
    image, target = reader.image(3), reader.target(3)
    assert image.shape[:2] == target.shape
    for train_id in set(np.unique(target).tolist()) - {255}:
        assert len(np.unique(image[target == train_id], axis=0)) == 1


def test_missing_label_map_and_empty_split_are_named(tmp_path: Path) -> None:
    folder = write_cityscapes(tmp_path, per_city=1)
    (folder / "leftImg8bit" / "val" / "frankfurt" / f"{STEM}_leftImg8bit.png").write_bytes(b"")
    missing = folder / "gtFine" / "val" / "frankfurt" / f"{STEM}_gtFine_labelIds.png"
    with pytest.raises(DataNotFound, match=str(missing)):
        CityscapesSegmentation(folder, "val")
    for path in (folder / "leftImg8bit" / "val" / "frankfurt").iterdir():
        path.unlink()
    with pytest.raises(DataNotFound, match="no \\*_leftImg8bit.png images"):
        CityscapesSegmentation(folder, "val")


def test_colour_or_16_bit_label_map_is_refused_by_path(tmp_path: Path) -> None:
    folder = write_cityscapes(tmp_path, per_city=1)
    reader = CityscapesSegmentation(folder, "train")
    gt = folder / "gtFine" / "train"
    colour = gt / "aachen" / "aachen_000000_000019_gtFine_labelIds.png"
    Image.new("RGB", (8, 8)).save(colour)
    wide = gt / "bochum" / "bochum_000000_000019_gtFine_labelIds.png"
    Image.fromarray(np.full((8, 8), 7, np.uint16)).save(wide)
    for index, path in enumerate((colour, wide)):
        with pytest.raises(DataCorrupt, match=str(path)):
            reader.target(index)
