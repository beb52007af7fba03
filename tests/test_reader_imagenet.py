"""ImageNet and ImageNetV2 readers: the packaged ILSVRC2012 table, devkit ID -> WNID -> the train
folders' class (all 1000 or a subset), both val layouts, V2 folder k -> k-th wnid, unseen classes refused."""

from __future__ import annotations

import configparser
import fnmatch
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound, UnseenClass
from tasks.readers.ilsvrc2012 import BY_ID, BY_WNID, CLASSES, WNIDS
from tasks.readers.imagenet import ImageNet, ImageNetV2
from tasks.synthetic import draw_shape_image
from tests.reader_base import ReaderTests, append_blank_line
from tests.writers.imagenet import (
    DEVKIT,
    FIXTURE_WNIDS,
    V2_FOLDER,
    real_leaves,
    write_devkit,
    write_imagenet,
    write_imagenet_v2,
)
from tests.writers.images import rewrite_larger, save_jpeg

TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
REPO = Path(__file__).resolve().parents[1]


class TestImageNet(ReaderTests):
    READER = ImageNet
    SPLITS = ("train", "val")
    DATA_FOLDER = "imagenet"

    def write_fixture(self, root: Path, split: str) -> int:
        write_imagenet(root, n_train=2, n_val=2)
        return 2 * len(FIXTURE_WNIDS)

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / "imagenet"
        if split == "train":
            return [folder / "train"]
        return [
            folder / "val",
            folder / DEVKIT,
            folder / DEVKIT / "data" / "meta.mat",
            folder / DEVKIT / TRUTH,
            folder / "val" / "ILSVRC2012_val_00000003.JPEG",
        ]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        if split == "train":
            rewrite_larger(root / "imagenet" / self.open(root, split).image_ids()[0])
        else:
            append_blank_line(root / "imagenet" / DEVKIT / TRUTH)
        return True


class TestImageNetFolderedVal(ReaderTests):
    READER = ImageNet
    SPLITS = ("val",)
    DATA_FOLDER = "imagenet"

    def write_fixture(self, root: Path, split: str) -> int:
        write_imagenet(root, n_train=1, n_val=2, val_layout="folders", devkit=None)
        return 2 * len(FIXTURE_WNIDS)

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "imagenet" / "val"]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / "imagenet" / self.open(root, split).image_ids()[-1])
        return True


class TestImageNetV2(ReaderTests):
    READER = ImageNetV2
    SPLITS = ("test",)
    DATA_FOLDER = V2_FOLDER

    def write_fixture(self, root: Path, split: str) -> int:
        write_imagenet_v2(root, per_class=2)
        return 2 * len(FIXTURE_WNIDS)

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / V2_FOLDER]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / V2_FOLDER / self.open(root, split).image_ids()[5])
        return True


def write_val(folder: Path, count: int) -> None:
    for number in range(1, count + 1):
        save_jpeg(np.full((16, 16, 3), number, np.uint8), folder / "val" / f"ILSVRC2012_val_{number:08d}.JPEG")


def truth_wnids(folder: Path) -> list[str]:
    """The wnid the fixture's ground truth gives each val image, in val-file order."""
    return [BY_ID[int(line)].wnid for line in (folder / DEVKIT / TRUTH).read_text().split()]


def test_table_has_the_1000_classes_in_both_orders() -> None:
    assert len(CLASSES) == 1000 and len(set(WNIDS)) == 1000 and list(WNIDS) == sorted(WNIDS)
    assert [entry.index for entry in CLASSES] == list(range(1000))
    assert (CLASSES[0].wnid, CLASSES[0].name) == ("n01440764", "tench, Tinca tinca")
    assert (CLASSES[999].wnid, CLASSES[999].name) == ("n15075141", "toilet tissue, toilet paper, bathroom tissue")
    assert sorted(entry.ilsvrc2012_id for entry in CLASSES) == list(range(1, 1001))
    assert (BY_ID[1].wnid, BY_ID[1].name, BY_ID[1].index) == ("n02119789", "kit fox, Vulpes macrotis", 278)
    assert (BY_ID[490].wnid, BY_ID[490].name, BY_ID[490].index) == ("n01751748", "sea snake", 65)
    assert BY_WNID["n01751748"] is BY_ID[490]


def test_table_is_declared_package_data() -> None:
    """An installed ccbench must ship the table, not only a source checkout."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    patterns = config["options.package_data"]["tasks.readers"].split()
    assert any(fnmatch.fnmatch("data/ilsvrc2012_classes.tsv", pattern) for pattern in patterns)


def test_flat_val_maps_ids_through_wnids_to_the_standard_order_without_train(tmp_path: Path) -> None:
    folder = tmp_path / "imagenet"
    write_val(folder, 4)
    write_devkit(folder, [490, 449, 1, 1000])
    reader = ImageNet(folder, "val")
    assert reader.classes == list(WNIDS)
    # 490 = n01751748 sea snake (65), 449 = n01440764 tench (0), 1 = n02119789 kit fox (278), 1000 = dumbbell (543)
    assert reader.labels().tolist() == [65, 0, 278, 543]
    assert reader.image_ids() == [f"val/ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 5)]
    assert abs(int(reader.image(2)[8, 8, 0]) - 3) <= 2  # image 3 was filled with the value 3


@pytest.mark.parametrize("layout", ["flat", "folders"])
def test_val_with_a_train_subset_labels_by_train_folder(tmp_path: Path, layout: str) -> None:
    """Three real classes in train/: val labels index those three, found by wnid (today: refused)."""
    wnids = ("n02119789", "n01751748", "n04599235")  # IDs 1, 490, 815; sorted: sea snake, kit fox, wool
    folder = write_imagenet(tmp_path, wnids=wnids, n_train=1, n_val=3, val_layout=layout)
    train, val = ImageNet(folder, "train"), ImageNet(folder, "val")
    assert train.classes == val.classes == ["n01751748", "n02119789", "n04599235"]
    expected = truth_wnids(folder) if layout == "flat" else [image_id.split("/")[1] for image_id in val.image_ids()]
    assert [val.classes[label] for label in val.labels().tolist()] == expected
    assert sorted(val.labels().tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


@pytest.mark.parametrize("layout", ["flat", "folders"])
def test_val_image_of_a_class_train_lacks_is_refused_in_one_line(tmp_path: Path, layout: str) -> None:
    folder = write_imagenet(tmp_path, n_train=1, n_val=2, val_layout=layout)
    shutil.rmtree(folder / "train" / "n02085620")
    reader = ImageNet(folder, "train")
    assert "n02085620" not in reader.classes
    if layout == "flat":
        first = 1 + truth_wnids(folder).index("n02085620")
        image = folder / "val" / f"ILSVRC2012_val_{first:08d}.JPEG"
    else:
        image = min((folder / "val" / "n02085620").iterdir())
    with pytest.raises(UnseenClass) as refused:
        ImageNet(folder, "val")
    message = str(refused.value)
    assert message.startswith(
        f"{image}: class n02085620 is not one of the 5 classes of {folder / 'train'} "
        "(2 of 12 images are of such classes); extract those classes into"
    )
    assert "\n" not in message


def test_foldered_val_may_lack_a_train_class(tmp_path: Path) -> None:
    """Labels are found by wnid, so a class absent from val shifts nothing."""
    folder = write_imagenet(tmp_path, n_train=1, n_val=1, val_layout="folders")
    shutil.rmtree(folder / "val" / "n02085620")
    reader = ImageNet(folder, "val")
    assert len(reader.classes) == 6 and [reader.classes[label] for label in reader.labels().tolist()] == [
        image_id.split("/")[1] for image_id in reader.image_ids()
    ]
    assert reader.classes.index("n02085620") not in reader.labels().tolist()


def test_val_image_1_is_sea_snake_class_65_with_all_1000_train_folders(tmp_path: Path) -> None:
    """The real check at full scale: 1000 train folders, val image 1 has ILSVRC2012_ID 490 = n01751748."""
    folder = tmp_path / "imagenet"
    for wnid in WNIDS:
        save_jpeg(np.zeros((8, 8, 3), np.uint8), folder / "train" / wnid / f"{wnid}_1.JPEG")
    write_val(folder, 3)
    write_devkit(folder, [490, 1, 1000])
    reader = ImageNet(folder, "val")
    assert reader.classes == list(WNIDS) == ImageNet(folder, "train").classes
    assert reader.classes[65] == "n01751748" and reader.labels().tolist() == [65, 278, 543]


@pytest.mark.parametrize("change", ["swapped", "missing"])
def test_meta_mat_that_disagrees_with_the_table_is_refused(tmp_path: Path, change: str) -> None:
    folder = write_imagenet(tmp_path, devkit=None)
    leaves = real_leaves()
    if change == "swapped":  # IDs 1 and 490 trade wnids: kit fox images would be read as sea snakes
        leaves[0], leaves[489] = (1, leaves[489][1]), (490, leaves[0][1])
        expected = "leaf ILSVRC2012_ID 1 is n01751748, where ILSVRC2012 has n02119789 (kit fox, Vulpes macrotis)"
    else:
        leaves = leaves[:-1]
        expected = "leaf ILSVRC2012_ID 1000 is missing, where ILSVRC2012 has n03255030 (dumbbell)"
    write_devkit(folder, [1, 490], leaves=leaves)
    meta = folder / DEVKIT / "data" / "meta.mat"
    with pytest.raises(DataCorrupt, match="^" + re.escape(f"{meta}: {expected}; not the ILSVRC2012 devkit")):
        ImageNet(folder, "val")


@pytest.mark.parametrize("form", ["beside", "tarball"])
def test_devkit_beside_the_folder_or_as_tarball_gives_the_same_labels(tmp_path: Path, form: str) -> None:
    expected = ImageNet(write_imagenet(tmp_path / "a"), "val")
    other = ImageNet(write_imagenet(tmp_path / "b", devkit=form), "val")
    assert other.labels().tolist() == expected.labels().tolist()
    assert other.image_ids() == expected.image_ids()


def test_flat_and_foldered_val_agree_per_image(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=1, n_val=2)
    flat = ImageNet(folder, "val")
    by_name = dict(zip((Path(i).name for i in flat.image_ids()), flat.labels().tolist()))
    for name, label in by_name.items():
        target = folder / "val" / flat.classes[label] / name
        target.parent.mkdir(exist_ok=True)
        (folder / "val" / name).rename(target)
    foldered = ImageNet(folder, "val")
    assert {Path(i).name: label for i, label in zip(foldered.image_ids(), foldered.labels().tolist())} == by_name
    train = ImageNet(folder, "train")
    assert train.classes == foldered.classes == flat.classes


def test_train_labels_are_sorted_wnid_indices_and_extra_files_are_ignored(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=2, n_val=1)
    (folder / "train" / "n01440764.tar").write_bytes(b"leftover inner tar")
    reader = ImageNet(folder, "train")
    assert reader.classes == sorted(FIXTURE_WNIDS)
    assert reader.labels().tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert reader.image_ids()[0] == "train/n01440764/n01440764_10026.JPEG"


def test_cmyk_and_png_stored_as_jpeg_decode_to_rgb(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=2, n_val=1)
    pixels = draw_shape_image(np.random.default_rng(1), 2, 20)
    Image.fromarray(pixels).convert("CMYK").save(folder / "train" / "n01440764" / "n01440764_10026.JPEG", "JPEG")
    Image.fromarray(pixels).save(folder / "train" / "n01440764" / "n01440764_10033.JPEG", "PNG")
    reader = ImageNet(folder, "train")
    for index in (0, 1):
        image = reader.image(index)
        assert image.shape == (20, 20, 3) and image.dtype == np.uint8
    assert np.array_equal(reader.image(1), pixels)


def test_corrupt_image_is_reported_by_path(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=1, n_val=1)
    path = folder / "val" / "ILSVRC2012_val_00000002.JPEG"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataCorrupt, match=str(path)):
        ImageNet(folder, "val").image(1)


def test_missing_devkit_names_meta_mat(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, devkit=None)
    with pytest.raises(DataNotFound, match=str(folder / DEVKIT / "data" / "meta.mat")):
        ImageNet(folder, "val")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("2\n4\nsix\n1\n", "line 3: expected one ILSVRC2012_ID"),
        ("2\n1001\n", "line 2: ILSVRC2012_ID 1001 is not a class"),
    ],
)
def test_malformed_ground_truth_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    folder = tmp_path / "imagenet"
    write_val(folder, 4)
    write_devkit(folder, [1, 2, 3, 4])
    truth = folder / DEVKIT / TRUTH
    truth.write_text(content)  # ID 1001 is the first internal synset
    with pytest.raises(DataCorrupt, match=f"{truth}: {message}"):
        ImageNet(folder, "val")


def test_devkit_tarball_without_ground_truth_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "imagenet"
    write_val(folder, 2)
    devkit = folder / DEVKIT / "data"
    write_devkit(folder, [1, 2])
    (devkit / "ILSVRC2012_validation_ground_truth.txt").unlink()
    with tarfile.open(folder / f"{DEVKIT}.tar.gz", "w:gz") as tar:
        tar.add(folder / DEVKIT, arcname=DEVKIT)
    shutil.rmtree(folder / DEVKIT)
    with pytest.raises(DataCorrupt, match=f"{DEVKIT}.tar.gz: has no {DEVKIT}/{TRUTH}"):
        ImageNet(folder, "val")


def test_not_a_mat_file_is_named(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path)
    meta = folder / DEVKIT / "data" / "meta.mat"
    meta.write_bytes(b"not a MATLAB file at all" * 10)
    with pytest.raises(DataCorrupt, match=f"{meta}: not a MATLAB v5 meta.mat"):
        ImageNet(folder, "val")


def test_half_moved_val_and_stray_folders_are_refused(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=1, n_val=1)
    (folder / "val" / "n01440764").mkdir()
    with pytest.raises(DataCorrupt, match="both wnid folders and flat"):
        ImageNet(folder, "val")
    for stray in ("ILSVRC2012_img_train", "n99999999"):  # the second is a wnid, but no ILSVRC2012 class
        (folder / "train" / stray).mkdir()
        with pytest.raises(DataCorrupt, match=f"{folder / 'train' / stray}: not a class folder"):
            ImageNet(folder, "train")
        (folder / "train" / stray).rmdir()


def test_v2_folder_k_is_the_kth_wnid_read_as_an_integer(tmp_path: Path) -> None:
    folder = write_imagenet_v2(tmp_path, per_class=2)
    reader = ImageNetV2(folder, "test")
    assert reader.classes == list(WNIDS) and reader.classes[65] == "n01751748"
    folders = [int(image_id.split("/")[0]) for image_id in reader.image_ids()]
    assert folders == reader.labels().tolist() == [k for k in (0, 65, 151, 278, 489, 911) for _ in range(2)]
    assert reader.image_ids()[2].startswith("65/") and reader.image_ids()[2].endswith(".jpeg")  # "151" < "65"
    assert sorted({reader.classes[label] for label in reader.labels().tolist()}) == sorted(FIXTURE_WNIDS)


@pytest.mark.parametrize("name", ["n01440764", "1000"])
def test_v2_refuses_non_class_folders(tmp_path: Path, name: str) -> None:
    folder = write_imagenet_v2(tmp_path, per_class=1)
    (folder / name).mkdir()
    with pytest.raises(DataCorrupt, match=f"{folder / name}: not a class folder 0..999"):
        ImageNetV2(folder, "test")
