"""NYU readers: the original layout (sorted pairing, depth in metres with holes as NaN, binary walkable masks) and
the official .mat layout (transposed HDF5 arrays, 1-based splits, layout choice)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.nyu import NyuDepth, NyuWalkable, head_tail_digest
from tests.reader_base import ReaderTests
from tests.writers.images import rewrite_larger
from tests.writers.nyu import COUNTS, write_nyu
from tests.writers.nyu_mat import TEST_NUMBERS, TRAIN_NUMBERS, nyu_mat_frames, write_nyu_mat


class TestNyuDepth(ReaderTests):
    READER = NyuDepth
    SPLITS = ("train", "test")
    DATA_FOLDER = "nyu"
    TARGET_FOLDER = "depths"

    def write_fixture(self, root: Path, split: str) -> int:
        write_nyu(root)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "nyu" / split / "images", root / "nyu" / split / self.TARGET_FOLDER]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / "nyu" / split / "images" / "00001.png")
        return True


class TestNyuWalkable(TestNyuDepth):
    READER = NyuWalkable
    TARGET_FOLDER = "walkable"


class TestNyuDepthMat(ReaderTests):
    READER = NyuDepth
    SPLITS = ("train", "test")
    DATA_FOLDER = "nyu"

    def write_fixture(self, root: Path, split: str) -> int:
        write_nyu_mat(root)
        return len(TRAIN_NUMBERS if split == "train" else TEST_NUMBERS)

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "nyu" / "nyu_depth_v2_labeled.mat", root / "nyu" / "splits.mat"]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        savemat(
            root / "nyu" / "splits.mat",
            {
                "trainNdxs": np.array(TRAIN_NUMBERS, float)[:, None],
                "testNdxs": np.array(TEST_NUMBERS, float)[:, None],
                "note": "edited",
            },
        )
        return True


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


def test_mat_arrays_are_transposed_to_height_width(tmp_path: Path) -> None:
    reader = NyuDepth(write_nyu_mat(tmp_path), "train")
    image, depth = nyu_mat_frames()[TRAIN_NUMBERS[2] - 1]
    assert reader.image(2).shape == (16, 20, 3) and reader.image(2).dtype == np.uint8
    assert np.array_equal(reader.image(2), image) and reader.image(2)[3, 17, 1] == 17 * 255 // 20
    target = reader.target(2)
    assert target.dtype == np.float32 and target.shape == (16, 20)
    assert np.isnan(target[0, 0]) and np.array_equal(target.ravel()[1:], depth.ravel()[1:])
    assert target[5, 19] == depth[5, 19] != depth[5, 0]
    assert reader.classes == ["depth"] and reader.labels().tolist() == [0] * 4


def test_mat_splits_are_one_based(tmp_path: Path) -> None:
    reader = NyuDepth(write_nyu_mat(tmp_path), "test")
    frames = nyu_mat_frames()
    assert reader.image_ids() == ["nyu_depth_v2_labeled.mat#0002", "nyu_depth_v2_labeled.mat#0005"]
    assert np.array_equal(reader.image(0), frames[1][0]) and np.array_equal(reader.image(1), frames[4][0])


def test_mat_split_numbers_out_of_range_are_refused(tmp_path: Path) -> None:
    folder = write_nyu_mat(tmp_path)
    for numbers in ([0, 2], [2, 7], [1.5]):
        savemat(folder / "splits.mat", {"trainNdxs": np.array(numbers, float)[:, None], "testNdxs": np.ones((1, 1))})
        with pytest.raises(DataCorrupt, match=f"{folder / 'splits.mat'}: `trainNdxs` holds values outside"):
            NyuDepth(folder, "train")


def test_layout_is_chosen_by_the_files_present(tmp_path: Path) -> None:
    folder = write_nyu_mat(tmp_path)
    with pytest.raises(DataNotFound, match="the official nyu_depth_v2_labeled.mat has no walkable masks"):
        NyuWalkable(folder, "train")
    write_nyu(tmp_path)
    assert NyuDepth(folder, "train").image_ids() == [f"train/images/{number:05d}.png" for number in range(4)]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        DataNotFound,
        match=f"{empty / 'test' / 'images'}: missing, and so is {empty / 'nyu_depth_v2_labeled.mat'}; expected nyu/",
    ):
        NyuDepth(empty, "test")


def test_a_mat_that_is_not_hdf5_is_refused_by_path(tmp_path: Path) -> None:
    folder = write_nyu_mat(tmp_path)
    path = folder / "nyu_depth_v2_labeled.mat"
    savemat(path, {"images": np.zeros((2, 2))})
    with pytest.raises(DataCorrupt, match=f"{path}: cannot open as a MATLAB v7.3"):
        NyuDepth(folder, "train")


def test_mat_digest_follows_the_pixels(tmp_path: Path) -> None:
    first = NyuDepth(write_nyu_mat(tmp_path / "a"), "train").manifest_digest
    assert NyuDepth(write_nyu_mat(tmp_path / "b", seed=1), "train").manifest_digest != first


def test_head_tail_digest_reads_size_and_both_ends(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"abcdefghij")
    digest = head_tail_digest(path, span=3)
    path.write_bytes(b"abcdeXghij")
    assert head_tail_digest(path, span=3) == digest, "the middle is not read"
    for edited in (b"Xbcdefghij", b"abcdefghiX", b"abcdefghijk"):
        path.write_bytes(edited)
        assert head_tail_digest(path, span=3) != digest
    path.write_bytes(b"abcdefghijk")
    whole = head_tail_digest(path, span=6)
    path.write_bytes(b"abcdeXghijk")
    assert head_tail_digest(path, span=6) != whole, "a file of at most 2 * span bytes is read whole"
