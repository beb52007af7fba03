"""DTD reader: partition 1 (train = train1 + val1, test = test1), sorted class folders, list errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.dtd import DTD
from tests.reader_base import ReaderTests, append_blank_line
from tests.writers.dtd import write_dtd


class TestDTD(ReaderTests):
    READER = DTD
    SPLITS = ("train", "test")
    DATA_FOLDER = "dtd"

    def write_fixture(self, root: Path, split: str) -> int:
        write_dtd(root, per_class=6)
        return 12 if split == "train" else 6

    def files_required(self, root: Path, split: str) -> list[Path]:
        labels = root / "dtd" / "labels"
        lists = [labels / "train1.txt", labels / "val1.txt"] if split == "train" else [labels / "test1.txt"]
        first = lists[-1].read_text().split()[0]
        return [*lists, root / "dtd" / "images", root / "dtd" / "images" / first]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        append_blank_line(root / "dtd" / "labels" / ("val1.txt" if split == "train" else "test1.txt"))
        return True


def lines(path: Path) -> list[str]:
    return path.read_text().split()


def test_train_is_train1_then_val1_and_test_is_test1(tmp_path: Path) -> None:
    folder = write_dtd(tmp_path, classes=("zigzagged", "banded", "polka-dotted"), per_class=6)
    train, test = DTD(folder, "train"), DTD(folder, "test")
    assert train.classes == ["banded", "polka-dotted", "zigzagged"]
    labels = folder / "labels"
    listed = lines(labels / "train1.txt") + lines(labels / "val1.txt")
    assert train.image_ids() == [f"images/{entry}" for entry in listed]
    assert test.image_ids() == [f"images/{entry}" for entry in lines(labels / "test1.txt")]
    for reader in (train, test):
        assert [train.classes[label] for label in reader.labels()] == [i.split("/")[1] for i in reader.image_ids()]
    assert np.bincount(train.labels()).tolist() == [4, 4, 4] and np.bincount(test.labels()).tolist() == [2, 2, 2]
    assert not set(train.image_ids()) & set(test.image_ids())


def test_other_partitions_are_not_read(tmp_path: Path) -> None:
    folder = write_dtd(tmp_path)
    before = DTD(folder, "train").manifest_digest
    (folder / "labels" / "train2.txt").write_text("garbage without a slash\n")
    assert DTD(folder, "train").manifest_digest == before


@pytest.mark.parametrize("bad", ["banded_0002.jpg", "banded/", "/banded_0002.jpg", "banded/sub/x.jpg"])
def test_malformed_line_names_file_and_line(tmp_path: Path, bad: str) -> None:
    folder = write_dtd(tmp_path)
    listing = folder / "labels" / "val1.txt"
    listing.write_text(f"{lines(listing)[0]}\n\n{bad}\n")
    with pytest.raises(DataCorrupt, match=f"{listing}: line 3: expected"):
        DTD(folder, "train")


@pytest.mark.parametrize("entry", ["banded/banded_9999.jpg", "woven/woven_0002.jpg"])
def test_listed_image_or_class_missing_is_named(tmp_path: Path, entry: str) -> None:
    folder = write_dtd(tmp_path)
    listing = folder / "labels" / "test1.txt"
    listing.write_text(f"{entry}\n")
    with pytest.raises(DataNotFound, match=str(folder / "images" / entry)):
        DTD(folder, "test")


def test_image_listed_in_train1_and_val1_is_refused(tmp_path: Path) -> None:
    folder = write_dtd(tmp_path)
    (folder / "labels" / "val1.txt").write_text(lines(folder / "labels" / "train1.txt")[0] + "\n")
    with pytest.raises(DataCorrupt, match="listed twice"):
        DTD(folder, "train")


def test_corrupt_image_is_reported_by_path(tmp_path: Path) -> None:
    folder = write_dtd(tmp_path)
    reader = DTD(folder, "test")
    path = folder / reader.image_ids()[2]
    path.write_bytes(b"GIF89a broken")
    with pytest.raises(DataCorrupt, match=str(path)):
        reader.image(2)
    assert reader.image(0).shape == (24, 24, 3)
