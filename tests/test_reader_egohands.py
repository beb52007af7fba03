"""EgoHands reader: split by video name, frames matched to polygons.mat elements in order, polygon rasterisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.egohands import TEST_VIDEOS, VAL_VIDEOS, EgoHandsSegmentation
from tests.reader_base import ReaderTests
from tests.writers.egohands import COLOURS, COUNTS, FRAME_NUMBERS, TRAIN_VIDEOS, write_egohands, write_polygons
from tests.writers.images import rewrite_larger

SQUARE = np.array([[3, 2], [10, 2], [10, 8], [3, 8]], dtype=np.float64)
"""1-based (x, y) vertices: columns 2..9 and rows 1..7 once 0-based."""


class TestEgoHandsSegmentation(ReaderTests):
    READER = EgoHandsSegmentation
    SPLITS = ("train", "test")
    DATA_FOLDER = "egohands"

    def write_fixture(self, root: Path, split: str) -> int:
        write_egohands(root)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        samples = root / "egohands" / "_LABELLED_SAMPLES"
        video = TEST_VIDEOS[-1] if split == "test" else TRAIN_VIDEOS[-1]
        required = [samples, samples / video / "polygons.mat"]
        if split == "test":
            required.append(samples / video)
        return required

    def mutate_fixture(self, root: Path, split: str) -> bool:
        video = TEST_VIDEOS[0] if split == "test" else TRAIN_VIDEOS[0]
        rewrite_larger(root / "egohands" / "_LABELLED_SAMPLES" / video / "frame_0132.jpg")
        return True


def test_split_is_by_video_and_frames_are_in_frame_order(tmp_path: Path) -> None:
    folder = write_egohands(tmp_path)
    train, test = EgoHandsSegmentation(folder, "train"), EgoHandsSegmentation(folder, "test")
    assert train.image_ids() == [
        f"_LABELLED_SAMPLES/{video}/frame_{number:04d}.jpg" for video in TRAIN_VIDEOS for number in FRAME_NUMBERS
    ]
    assert [image_id.split("/")[1] for image_id in test.image_ids()[::2]] == list(TEST_VIDEOS)
    assert not any(VAL_VIDEOS[0] in image_id for image_id in train.image_ids() + test.image_ids())
    assert train.classes == ["background", "yourleft", "yourright", "myleft", "myright"]
    assert train.TARGET == "classes" and train.labels().tolist() == [0] * 4


def test_polygons_fill_their_class_from_one_based_vertices(tmp_path: Path) -> None:
    folder = write_egohands(tmp_path)
    video = folder / "_LABELLED_SAMPLES" / TRAIN_VIDEOS[0]
    overlap = SQUARE + [4, 0]
    write_polygons(
        video / "polygons.mat",
        [{"myleft": SQUARE}, {"yourleft": SQUARE, "myright": overlap, "yourright": np.array([[1.0, 1.0], [5.0, 5.0]])}],
    )
    reader = EgoHandsSegmentation(folder, "train")
    first, second = reader.target(0), reader.target(1)
    assert first.dtype == np.int64 and first.shape == reader.image(0).shape[:2] == (24, 32)
    expected = np.zeros((24, 32), np.int64)
    expected[1:8, 2:10] = 3
    assert np.array_equal(first, expected)
    expected[1:8, 2:6] = 1
    expected[1:8, 6:14] = 4
    assert np.array_equal(second, expected), "myright drawn over yourleft; a 2-vertex polygon has no area"


def test_hands_follow_the_frame_colours(tmp_path: Path) -> None:
    reader = EgoHandsSegmentation(write_egohands(tmp_path), "test")
    image, target = reader.image(5), reader.target(5)
    hands = set(np.unique(target).tolist()) - {0}
    assert len(hands) == 2
    for label in hands:
        colour = np.median(image[target == label], axis=0)
        assert np.abs(colour - COLOURS[reader.classes[label]]).max() < 30


def test_polygon_count_must_match_the_frames(tmp_path: Path) -> None:
    folder = write_egohands(tmp_path)
    path = folder / "_LABELLED_SAMPLES" / TEST_VIDEOS[2] / "polygons.mat"
    write_polygons(path, [{}, {}, {}])
    with pytest.raises(DataCorrupt, match=f"{path}: 3 polygon sets but 2 frames"):
        EgoHandsSegmentation(folder, "test")


def test_damaged_polygons_are_refused_by_path(tmp_path: Path) -> None:
    folder = write_egohands(tmp_path)
    path = folder / "_LABELLED_SAMPLES" / TRAIN_VIDEOS[1] / "polygons.mat"
    path.write_bytes(b"not a mat file")
    with pytest.raises(DataCorrupt, match=str(path)):
        EgoHandsSegmentation(folder, "train")
    write_polygons(path, [{"myright": np.arange(6.0).reshape(2, 3)}, {}])
    with pytest.raises(DataCorrupt, match=f"{path}: polygons\\(1\\).myright has shape \\(2, 3\\)"):
        EgoHandsSegmentation(folder, "train").target(2)


def test_no_train_videos_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "egohands" / "_LABELLED_SAMPLES"
    (folder / TEST_VIDEOS[0]).mkdir(parents=True)
    with pytest.raises(DataNotFound, match=f"{folder}: no train video folders"):
        EgoHandsSegmentation(folder.parent, "train")
