"""nuScenes egomotion reader: fixed class order, frames shared between pairs, damaged json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.nuscenes import MOTIONS, NuScenesEgomotion
from tests.reader_base import ReaderTests
from tests.writers.nuscenes import write_nuscenes_egomotion
from tests.writers.thor import ramp_means, white_fraction

COUNTS = {"train": 8, "test": 5}


class TestNuScenesEgomotion(ReaderTests):
    READER = NuScenesEgomotion
    SPLITS = ("train", "test")
    DATA_FOLDER = "nuScenes"

    def write_fixture(self, root: Path, split: str) -> int:
        write_nuscenes_egomotion(root, n_train=COUNTS["train"], n_test=COUNTS["test"], size=16)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / self.DATA_FOLDER
        entries = json.loads((folder / f"nuScenes_{split}.json").read_text())
        return [folder / f"nuScenes_{split}.json", folder / entries[0]["img_a"], folder / entries[-1]["img_b"]]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        path = root / self.DATA_FOLDER / f"nuScenes_{split}.json"
        path.write_text(json.dumps(json.loads(path.read_text())))  # the same pairs, written without indent
        return True


def write_pairs(folder: Path, entries: list[dict], split: str = "train") -> Path:
    """A hand-built json, with a flat-colour JPEG for every frame it names."""
    for entry in entries:
        for key in ("img_a", "img_b"):
            path = folder / entry[key]
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (16, 9), (200, 30, 30)).save(path)
    path = folder / f"nuScenes_{split}.json"
    path.write_text(json.dumps(entries))
    return path


def test_class_order_is_fixed_not_derived_from_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "nuScenes"
    write_pairs(
        folder,
        [
            {"img_a": "samples/CAM_FRONT/a.jpg", "img_b": "sweeps/CAM_FRONT/b.jpg", "label": "none"},
            {"img_a": "samples/CAM_FRONT/a.jpg", "img_b": "sweeps/CAM_FRONT/c.jpg", "label": "forward-right"},
        ],
    )
    reader = NuScenesEgomotion(folder, "train")
    assert reader.labels().tolist() == [3, 2]
    assert reader.classes == ["forward", "forward-left", "forward-right", "none"] == sorted(MOTIONS)


def test_other_label_names_follow_the_train_list(tmp_path: Path) -> None:
    """Released lists spelled otherwise still load: classes are the train list's sorted labels,
    shared by the test split, and a test label the train list lacks is refused by file."""
    folder = tmp_path / "nuScenes"
    pair = {"img_a": "samples/CAM_FRONT/a.jpg", "img_b": "sweeps/CAM_FRONT/b.jpg"}
    write_pairs(folder, [{**pair, "label": "turn_left"}, {**pair, "label": "go_straight"}])
    write_pairs(folder, [{**pair, "label": "turn_left"}], split="test")
    assert NuScenesEgomotion(folder, "test").classes == ["go_straight", "turn_left"]
    assert NuScenesEgomotion(folder, "test").labels().tolist() == [1]
    write_pairs(folder, [{**pair, "label": "stop"}], split="test")
    with pytest.raises(DataCorrupt, match=re.escape(f"{folder / 'nuScenes_test.json'}: entry 0: label 'stop' never")):
        NuScenesEgomotion(folder, "test")


def test_shared_frames_are_one_image(tmp_path: Path) -> None:
    folder = tmp_path / "nuScenes"
    pairs = [
        {"img_a": "samples/CAM_FRONT/k1.jpg", "img_b": "sweeps/CAM_FRONT/s1.jpg", "label": "forward"},
        {"img_a": "./samples/CAM_FRONT/k1.jpg", "img_b": "sweeps/CAM_FRONT/s2.jpg", "label": "forward-left"},
        {"img_a": "sweeps/CAM_FRONT/s2.jpg", "img_b": "samples/CAM_FRONT/k2.jpg", "label": "none"},
    ]
    write_pairs(folder, pairs, split="train")
    write_pairs(folder, pairs, split="test")
    reader = NuScenesEgomotion(folder, "test")
    assert reader.image_ids() == [
        "samples/CAM_FRONT/k1.jpg",
        "sweeps/CAM_FRONT/s1.jpg",
        "sweeps/CAM_FRONT/s2.jpg",
        "samples/CAM_FRONT/k2.jpg",
    ]
    assert reader.samples().tolist() == [[0, 1], [0, 2], [2, 3]]
    assert reader.labels().tolist() == [0, 1, 3]
    assert reader.image(3).shape == (9, 16, 3)


def test_writer_shares_keyframes(tmp_path: Path) -> None:
    reader = NuScenesEgomotion(write_nuscenes_egomotion(tmp_path, n_train=8, n_test=1, size=16), "train")
    assert len(reader) == 12 and len(np.unique(reader.samples()[:, 0])) == 4
    assert all(image_id.split("/")[0] in ("samples", "sweeps") for image_id in reader.image_ids())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"img_a": "samples/x.jpg", "img_b": "sweeps/y.jpg", "label": 2}]', "entry 0: label 2 is not a motion name"),
        ('[{"img_a": "samples/x.jpg", "label": "none"}]', "entry 0: expected an object with keys img_a, img_b, label"),
        ("[]", "an empty list"),
        ('{"img_a": "samples/x.jpg"}', "holds a JSON dict, expected a list"),
        ('[{"img_a": "samples/x.jpg", ', "not valid JSON"),
        (
            '[{"img_a": "/abs/x.jpg", "img_b": "sweeps/y.jpg", "label": "none"}]',
            "entry 0: img_a: names /abs/x.jpg, outside the data folder",
        ),
        ('[{"img_a": "samples/x.jpg", "img_b": "../y.jpg", "label": "none"}]', "entry 0: img_b: names "),
        ('[{"img_a": "samples/x.jpg", "img_b": null, "label": "none"}]', "entry 0: img_b is None"),
    ],
)
def test_malformed_index_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    folder = tmp_path / "nuScenes"
    folder.mkdir()
    (folder / "nuScenes_train.json").write_text(content)
    with pytest.raises(DataCorrupt, match=re.escape(f"{folder / 'nuScenes_train.json'}: {message}")):
        NuScenesEgomotion(folder, "train")


def test_missing_frame_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "nuScenes"
    write_pairs(folder, [{"img_a": "samples/CAM_FRONT/a.jpg", "img_b": "sweeps/CAM_FRONT/b.jpg", "label": "none"}])
    (folder / "sweeps/CAM_FRONT/b.jpg").unlink()
    with pytest.raises(DataNotFound, match=re.escape(f"{folder / 'sweeps/CAM_FRONT/b.jpg'}: missing")):
        NuScenesEgomotion(folder, "train")


def test_fixture_is_learnable(tmp_path: Path) -> None:
    """img_b shows the move: red follows x (left/right), the white centre disc grows moving forward."""
    reader = NuScenesEgomotion(write_nuscenes_egomotion(tmp_path, n_train=12, n_test=1, size=32), "train")
    for (a, b), label in zip(reader.samples(), reader.labels()):
        first, second = reader.image(int(a)), reader.image(int(b))
        red = ramp_means(second)[0] - ramp_means(first)[0]
        white = white_fraction(second) - white_fraction(first)
        motion = MOTIONS[label]
        assert {
            "forward": white > 0.03 and abs(red) < 5,
            "forward-left": white > 0.01 and red < -10,
            "forward-right": white > 0.01 and red > 10,
            "none": white == 0 and red == 0,
        }[motion], motion
