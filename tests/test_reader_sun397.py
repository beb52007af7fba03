"""SUN397 reader: ClassName.txt order, nested classes, the seeded 80/20 split and the official Partitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import Reader, seeded_split, train_counts
from tasks.readers.sun397 import SUN397
from tests.reader_base import ReaderTests, append_blank_line
from tests.writers.sun397 import CLASS_LINES, write_sun397

PER_CLASS = 6


class TestSUN397(ReaderTests):
    READER = SUN397
    SPLITS = ("train", "test")
    DATA_FOLDER = "SUN397"

    def write_fixture(self, root: Path, split: str) -> int:
        write_sun397(root, per_class=PER_CLASS, size=16)
        train = sum(train_counts([PER_CLASS] * len(CLASS_LINES)))
        return train if split == "train" else PER_CLASS * len(CLASS_LINES) - train

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "SUN397" / "ClassName.txt", root / "SUN397" / "a" / "apartment_building" / "outdoor"]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        append_blank_line(root / "SUN397" / "ClassName.txt")
        return True


class TestSUN397Partitions(ReaderTests):
    READER = SUN397
    SPLITS = ("train", "test")
    DATA_FOLDER = "SUN397"

    def open(self, root: Path, split: str) -> Reader:
        return SUN397(root / "SUN397", split, partitions=root / "SUN397" / "Partitions")

    def write_fixture(self, root: Path, split: str) -> int:
        write_sun397(root, per_class=PER_CLASS, size=16, partitions=True)
        return PER_CLASS // 2 * len(CLASS_LINES)

    def files_required(self, root: Path, split: str) -> list[Path]:
        name = "Training_01.txt" if split == "train" else "Testing_01.txt"
        listed = (root / "SUN397" / "Partitions" / name).read_text().splitlines()[-1]
        return [root / "SUN397" / "Partitions" / name, root / "SUN397" / listed.lstrip("/")]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        name = "Training_01.txt" if split == "train" else "Testing_01.txt"
        append_blank_line(root / "SUN397" / "Partitions" / name)
        return True


def test_train_counts_by_hand() -> None:
    assert train_counts([5, 10]) == [4, 8]
    assert train_counts([6, 6, 6]) == [5, 5, 4]  # 14.4 -> 14: the two leftovers to the earliest ties
    assert train_counts([1, 2, 3]) == [1, 1, 2]  # floors 0, 1, 2; remainders 4, 3, 2; total floor(4.8) = 4
    assert train_counts([]) == []


def test_train_counts_hit_the_paper_total_on_sun_sized_data() -> None:
    sizes = np.random.default_rng(0).multinomial(108_754 - 397 * 100, np.ones(397) / 397) + 100
    counts = train_counts(sizes.tolist())
    assert sum(counts) == 87_003
    floors = sizes * 4 // 5
    assert ((counts - floors >= 0) & (counts - floors <= 1)).all()


def test_seeded_split_is_fixed_and_per_class() -> None:
    first, second = seeded_split([7, 9], seed=3), seeded_split([7, 9], seed=3)
    assert all((a == b).all() for a, b in zip(first, second))
    assert [int(mask.sum()) for mask in first] == train_counts([7, 9])
    assert (seeded_split([7, 20], seed=3)[0] == first[0]).all()  # another class's size does not move class 0


def test_split_is_a_partition_with_class_file_labels(tmp_path: Path) -> None:
    lines = ("/c/canyon", "/a/abbey", "/b/beach")  # not sorted: the label is the line order
    folder = write_sun397(tmp_path, class_lines=lines, per_class=PER_CLASS, size=16)
    train, test = SUN397(folder, "train"), SUN397(folder, "test")
    assert train.classes == ["canyon", "abbey", "beach"]
    assert not set(train.image_ids()) & set(test.image_ids())
    assert len(train) + len(test) == PER_CLASS * len(lines)
    for reader in (train, test):
        for image_id, label in zip(reader.image_ids(), reader.labels()):
            assert "/" + image_id.rsplit("/", 1)[0] == lines[label]
    assert np.bincount(train.labels()).tolist() == train_counts([PER_CLASS] * 3)
    assert np.bincount(test.labels()).tolist() == [1, 1, 2]
    assert SUN397(folder, "train").image_ids() == train.image_ids()


def test_nested_class_names_and_ids(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, per_class=2, size=16)
    reader = SUN397(folder, "train")
    assert reader.classes[1] == "apartment_building/outdoor"
    nested = [image_id for image_id, label in zip(reader.image_ids(), reader.labels()) if label == 1]
    assert nested and all(image_id.startswith("a/apartment_building/outdoor/sun_") for image_id in nested)


def test_partitions_give_the_listed_images_in_file_order(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, per_class=4, size=16, partitions=True)
    lines = (folder / "Partitions" / "Testing_01.txt").read_text().splitlines()
    reader = SUN397(folder, "test", partitions=folder / "Partitions", fold=1)
    assert reader.image_ids() == [line.lstrip("/") for line in lines]
    assert reader.labels().tolist() == [CLASS_LINES.index(line.rsplit("/", 1)[0]) for line in lines]
    seeded = set(SUN397(folder, "train").image_ids()) | set(SUN397(folder, "test").image_ids())
    assert set(reader.image_ids()) <= seeded  # same ids in both modes, so features are shared


def test_partition_line_of_an_unknown_class_names_file_and_line(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, per_class=2, size=16, partitions=True)
    listing = folder / "Partitions" / "Training_01.txt"
    listing.write_text(listing.read_text() + "/z/zoo/sun_abc.jpg\n")
    count = len(listing.read_text().splitlines())
    with pytest.raises(DataCorrupt, match=f"{listing}: line {count}: '/z/zoo/sun_abc.jpg'"):
        SUN397(folder, "train", partitions=folder / "Partitions")
    with pytest.raises(ValueError, match="fold 11"):
        SUN397(folder, "train", partitions=folder / "Partitions", fold=11)


def test_malformed_class_file_names_the_line(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, per_class=2, size=16)
    (folder / "ClassName.txt").write_text("/a/abbey\nbeach\n")
    with pytest.raises(DataCorrupt, match=f"{folder / 'ClassName.txt'}: line 2: 'beach'"):
        SUN397(folder, "train")


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, per_class=2, size=16)
    for path in (folder / "b" / "beach").iterdir():
        path.unlink()
    with pytest.raises(DataNotFound, match=str(folder / "b" / "beach")):
        SUN397(folder, "test")


def test_grayscale_and_cmyk_decode_to_rgb_and_corrupt_is_named(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, class_lines=("/a/abbey",), per_class=5, size=16)
    reader = SUN397(folder, "train")
    paths = [folder / image_id for image_id in reader.image_ids()]
    Image.new("L", (20, 10), 90).save(paths[0])
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(paths[1])
    gray, cmyk = reader.image(0), reader.image(1)
    assert gray.shape == (10, 20, 3) and abs(int(gray[5, 5, 0]) - 90) <= 2 and (gray[..., 0] == gray[..., 2]).all()
    assert cmyk.shape == (10, 20, 3) and cmyk[5, 5, 0] > 200 and cmyk[5, 5, 1] < 60
    paths[2].write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataCorrupt, match=str(paths[2])):
        reader.image(2)


def test_class_line_outside_the_data_folder_is_refused(tmp_path: Path) -> None:
    folder = write_sun397(tmp_path, per_class=2, size=16)
    (folder / "ClassName.txt").write_text("/a/abbey\n/../../elsewhere\n")
    with pytest.raises(
        DataCorrupt, match=f"{folder / 'ClassName.txt'}: class /../../elsewhere: names .*, outside the data folder"
    ):
        SUN397(folder, "train")
