"""ImageNet and ImageNetV2 readers: devkit ID -> WNID -> sorted index, both val layouts, integer V2 folders."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.imagenet import ImageNet, ImageNetV2
from tasks.synthetic import draw_shape_image
from tests.reader_base import ReaderTests, append_blank_line
from tests.writers.images import rewrite_larger, save_jpeg
from tests.writers.imagenet import DEVKIT, FIXTURE_WNIDS, V2_FOLDER, write_devkit, write_imagenet, write_imagenet_v2

TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"


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
        return [folder / "val", folder / DEVKIT, folder / DEVKIT / "data" / "meta.mat", folder / DEVKIT / TRUTH,
                folder / "val" / "ILSVRC2012_val_00000003.JPEG"]

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
        write_imagenet_v2(root, n_classes=12, per_class=2)
        return 24

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / V2_FOLDER]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / V2_FOLDER / self.open(root, split).image_ids()[5])
        return True


def write_val(folder: Path, count: int) -> None:
    for number in range(1, count + 1):
        save_jpeg(np.full((16, 16, 3), number, np.uint8), folder / "val" / f"ILSVRC2012_val_{number:08d}.JPEG")


def test_val_labels_map_ids_through_wnids_to_sorted_order(tmp_path: Path) -> None:
    folder = tmp_path / "imagenet"
    write_val(folder, 4)
    write_devkit(folder, FIXTURE_WNIDS, [2, 4, 1, 6])
    reader = ImageNet(folder, "val")
    assert reader.classes == sorted(FIXTURE_WNIDS) and len(reader.classes) == 6  # internal synsets left out
    # ID 2 = n01751748 (class 1), 4 = n01440764 (0), 1 = n02119789 (3), 6 = n02085620 (2)
    assert reader.labels().tolist() == [1, 0, 3, 2]
    assert reader.image_ids() == [f"val/ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 5)]
    assert abs(int(reader.image(2)[8, 8, 0]) - 3) <= 2  # image 3 was filled with the value 3


def test_full_scale_analogue_val_image_1_is_sea_snake_class_65(tmp_path: Path) -> None:
    """The real check: val image 1 has ILSVRC2012_ID 490 = n01751748, index 65 among the sorted 1000 wnids."""
    rng = np.random.default_rng(0)
    others = [f"n0150{i:04d}" for i in range(65)] + [f"n0300{i:04d}" for i in range(934)]
    leaves = [others[i] for i in rng.permutation(len(others))]
    leaves.insert(489, "n01751748")
    internal = [f"n0000{i:04d}" for i in range(40)] + [f"n0175{i:04d}" for i in range(20)]
    folder = tmp_path / "imagenet"
    write_val(folder, 3)
    write_devkit(folder, leaves, [490, 1, 1000], internal=internal)
    reader = ImageNet(folder, "val")
    assert len(reader.classes) == 1000 and reader.classes[65] == "n01751748"
    assert reader.labels().tolist() == [65, sorted(leaves).index(leaves[0]), sorted(leaves).index(leaves[999])]


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


@pytest.mark.parametrize(("content", "message"), [("2\n4\nsix\n1\n", "line 3: expected one ILSVRC2012_ID"),
                                                   ("2\n7\n", "line 2: ILSVRC2012_ID 7 is not a leaf")])
def test_malformed_ground_truth_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    folder = tmp_path / "imagenet"
    write_val(folder, 4)
    write_devkit(folder, FIXTURE_WNIDS, [1, 2, 3, 4])
    truth = folder / DEVKIT / TRUTH
    truth.write_text(content)  # ID 7 is the first internal synset
    with pytest.raises(DataCorrupt, match=f"{truth}: {message}"):
        ImageNet(folder, "val")


def test_devkit_tarball_without_ground_truth_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "imagenet"
    write_val(folder, 2)
    devkit = folder / DEVKIT / "data"
    write_devkit(folder, FIXTURE_WNIDS, [1, 2])
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


def test_val_classes_must_match_train_folders(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=1, n_val=1, val_layout="folders")
    shutil.rmtree(folder / "val" / "n02085620")
    with pytest.raises(DataCorrupt, match="first difference n02085620"):
        ImageNet(folder, "val")


def test_half_moved_val_and_stray_folders_are_refused(tmp_path: Path) -> None:
    folder = write_imagenet(tmp_path, n_train=1, n_val=1)
    (folder / "val" / "n01440764").mkdir()
    with pytest.raises(DataCorrupt, match="both wnid folders and flat"):
        ImageNet(folder, "val")
    (folder / "train" / "ILSVRC2012_img_train").mkdir()
    with pytest.raises(DataCorrupt, match="not a WordNet id folder"):
        ImageNet(folder, "train")


def test_v2_labels_are_integer_folder_names_not_string_order(tmp_path: Path) -> None:
    folder = write_imagenet_v2(tmp_path, n_classes=12, per_class=2)
    reader = ImageNetV2(folder, "test")
    folders = [int(image_id.split("/")[0]) for image_id in reader.image_ids()]
    assert folders == reader.labels().tolist() == [k for k in range(12) for _ in range(2)]
    assert reader.image_ids()[20].startswith("10/") and reader.image_ids()[20].endswith(".jpeg")


@pytest.mark.parametrize("name", ["n01440764", "1000"])
def test_v2_refuses_non_class_folders(tmp_path: Path, name: str) -> None:
    folder = write_imagenet_v2(tmp_path, n_classes=3, per_class=1)
    (folder / name).mkdir()
    with pytest.raises(DataCorrupt, match=f"{folder / name}: not a class folder"):
        ImageNetV2(folder, "test")
