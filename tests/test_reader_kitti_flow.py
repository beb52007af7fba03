"""KITTI 2015 flow reader: seeded 9/10 split, frame pairs, exact 16-bit flow decoding, damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.kitti_flow import KittiFlow2015
from tests.reader_base import ReaderTests
from tests.writers.images import rewrite_larger
from tests.writers.kitti_flow import encode_flow, shift, write_kitti_flow, write_png16_rgb

COUNTS = {"train": 9, "test": 1}
TEST_SCENE = "000001"
"""default_rng(0).permutation(10) ends with 1: the test pair of a 10-pair fixture."""


class TestKittiFlow2015(ReaderTests):
    READER = KittiFlow2015
    SPLITS = ("train", "test")
    DATA_FOLDER = "KITTI"

    def write_fixture(self, root: Path, split: str) -> int:
        write_kitti_flow(root, pairs=10)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        training = root / "KITTI" / "training"
        scene = "000000" if split == "train" else TEST_SCENE
        return [
            training / "image_2",
            training / "flow_occ",
            training / "image_2" / f"{scene}_11.png",
            training / "flow_occ" / f"{scene}_10.png",
        ]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        name = "000003_11.png" if split == "train" else f"{TEST_SCENE}_10.png"
        rewrite_larger(root / "KITTI" / "training" / "image_2" / name)
        return True


def test_split_is_a_seeded_nine_tenths_draw_and_samples_pair_10_with_11(tmp_path: Path) -> None:
    folder = write_kitti_flow(tmp_path, pairs=20)
    train, test = KittiFlow2015(folder, "train"), KittiFlow2015(folder, "test")
    assert len(train.samples()) == 18 and len(test.samples()) == 2
    ids = test.image_ids()
    test_scenes = sorted(int(n) for n in np.random.default_rng(0).permutation(20)[18:])
    assert test_scenes == [1, 15]
    assert [[ids[a], ids[b]] for a, b in test.samples()] == [
        [f"training/image_2/{n:06d}_10.png", f"training/image_2/{n:06d}_11.png"] for n in test_scenes
    ]
    train_ids = train.image_ids()
    assert {train_ids[a] for a, _ in train.samples()}.isdisjoint(ids)
    assert train.labels().tolist() == [0] * 18 and train.TARGET == "flow" and train.classes == ["flow"]


def test_flow_is_decoded_exactly_and_matches_the_frames(tmp_path: Path) -> None:
    folder = write_kitti_flow(tmp_path, pairs=10)
    reader = KittiFlow2015(folder, "train")
    for sample, scene in ((0, 0), (5, 6)):
        first, second = (reader.image(i) for i in reader.samples()[sample])
        flow = reader.target(sample)
        assert flow.dtype == np.float32 and flow.shape == (*first.shape[:2], 3)
        du, dv = shift(scene)
        valid = flow[..., 2] == 1
        assert set(np.unique(flow[..., 2])) <= {0.0, 1.0} and valid.any() and not valid.all()
        assert np.all(flow[..., 0][valid] == du) and np.all(flow[..., 1][valid] == dv)
        assert np.all(flow[..., :2][~valid] == 0)
        ys, xs = np.nonzero(valid)
        assert np.array_equal(second[ys + dv, xs + du], first[ys, xs])


def test_fractional_and_negative_flow_use_the_devkit_scale(tmp_path: Path) -> None:
    folder = write_kitti_flow(tmp_path, pairs=10)
    u = np.array([[1.5, -0.25], [-511.0, 0.0]])
    v = np.array([[-3.0, 2.125], [0.5, 7.0]])
    write_png16_rgb(
        encode_flow(u, v, np.array([[1, 1], [1, 0]])), folder / "training" / "flow_occ" / f"{TEST_SCENE}_10.png"
    )
    flow = KittiFlow2015(folder, "test").target(0)
    assert np.array_equal(flow[..., 0], np.array([[1.5, -0.25], [-511.0, 0.0]], np.float32))
    assert np.array_equal(flow[..., 1], np.array([[-3.0, 2.125], [0.5, 0.0]], np.float32))
    assert flow[..., 2].tolist() == [[1, 1], [1, 0]]


def test_eight_bit_or_broken_flow_png_is_reported_by_path(tmp_path: Path) -> None:
    folder = write_kitti_flow(tmp_path, pairs=10)
    reader = KittiFlow2015(folder, "train")
    flows = folder / "training" / "flow_occ"
    (flows / "000002_10.png").write_bytes((folder / "training" / "image_2" / "000002_10.png").read_bytes())
    (flows / "000003_10.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataCorrupt, match=str(flows / "000002_10.png")):
        reader.target(1)
    with pytest.raises(DataCorrupt, match=str(flows / "000003_10.png")):
        reader.target(2)


def test_no_frames_and_testing_folder_are_handled(tmp_path: Path) -> None:
    folder = write_kitti_flow(tmp_path, pairs=10)
    before = KittiFlow2015(folder, "test").manifest_digest
    (folder / "testing" / "image_2" / "000001_10.png").write_bytes(b"ignored")
    assert KittiFlow2015(folder, "test").manifest_digest == before
    for path in (folder / "training" / "image_2").glob("*_10.png"):
        path.unlink()
    with pytest.raises(DataNotFound, match="no \\*_10.png frames"):
        KittiFlow2015(folder, "train")
