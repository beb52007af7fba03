"""Kinetics frame reader: the original code's layout, skipped clips, frame order and label mapping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt
from tasks.readers.kinetics import KineticsFrames, natural_key, pick_frames
from tests.reader_base import ReaderTests
from tests.writers.kinetics import LABELS, write_kinetics

CLIPS = {"train": 2, "validate": 1}


class TestKineticsFrames(ReaderTests):
    READER = KineticsFrames
    SPLITS = ("train", "validate")
    DATA_FOLDER = "kinetics400"

    def write_fixture(self, root: Path, split: str) -> int:
        write_kinetics(root, clips=CLIPS, frames=7, size=16)
        return len(LABELS) * CLIPS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / "kinetics400"
        return [folder / "annotations" / f"{split}.json", folder / "annotations" / "train.json", folder / split]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        path = root / self.DATA_FOLDER / "annotations" / f"{split}.json"
        path.write_text(json.dumps(json.loads(path.read_text())))  # the same clips, written without indent
        return True


def annotation(label: str) -> dict:
    """One kinetics-downloader entry."""
    return {"annotations": {"label": label, "segment": [0.0, 10.0]}, "duration": 10.0, "subset": "train", "url": ""}


def write_clip(folder: Path, split: str, clip: str, frames: list[int], name: str = "{id}_{n}.jpg") -> None:
    """Frames of a clip as solid gray images whose level is 10 * their frame number."""
    (folder / split / clip[:2]).mkdir(parents=True, exist_ok=True)
    for n in frames:
        Image.new("L", (8, 8), 10 * n).save(folder / split / clip[:2] / name.format(id=clip, n=n))


def write_annotations(folder: Path, split: str, labels: dict[str, str]) -> Path:
    path = folder / "annotations" / f"{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({clip: annotation(label) for clip, label in labels.items()}))
    return path


def test_pick_frames_spreads_six_over_the_clip() -> None:
    assert pick_frames(6) == [0, 1, 2, 3, 4, 5]
    assert pick_frames(7) == [0, 1, 2, 3, 4, 6]
    assert pick_frames(12) == [0, 2, 4, 6, 8, 11]
    assert pick_frames(300) == [0, 59, 119, 179, 239, 299]


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["a_10.jpg", "a_9.jpg", "a_1.jpg", "a_010.jpg"]
    assert sorted(names, key=natural_key) == ["a_1.jpg", "a_9.jpg", "a_010.jpg", "a_10.jpg"]


def test_frames_are_taken_in_time_order_from_unpadded_names(tmp_path: Path) -> None:
    folder = tmp_path / "kinetics400"
    clip = "-x_Ab3dE9fG"
    write_annotations(folder, "train", {clip: "yoga"})
    write_clip(folder, "train", clip, list(range(1, 13)))
    (folder / "train" / "-x" / f"{clip}_notes.txt").write_text("not a frame")
    reader = KineticsFrames(folder, "train")
    assert reader.samples().tolist() == [[0, 1, 2, 3, 4, 5]]
    chosen = [1, 3, 5, 7, 9, 12]  # pick_frames(12) over frames 1..12
    assert reader.image_ids() == [f"train/-x/{clip}_{n}.jpg" for n in chosen]
    assert [int(reader.image(i)[0, 0, 0]) for i in range(6)] == [10 * n for n in chosen]


def test_short_and_missing_clips_are_skipped_and_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "kinetics400"
    labels = {"AAAAAAAAAAA": "yoga", "BBBBBBBBBBB": "yoga", "CCCCCCCCCCC": "zumba", "DDDDDDDDDDD": "zumba"}
    write_annotations(folder, "train", labels)
    write_clip(folder, "train", "AAAAAAAAAAA", list(range(6)))
    write_clip(folder, "train", "BBBBBBBBBBB", list(range(5)))
    write_clip(folder, "train", "CCCCCCCCCCC", [])
    reader = KineticsFrames(folder, "train")
    assert reader.skipped == {"BBBBBBBBBBB": 5, "CCCCCCCCCCC": 0, "DDDDDDDDDDD": 0}
    assert reader.labels().tolist() == [0] and reader.classes == ["yoga", "zumba"]


def test_validate_uses_the_train_label_order(tmp_path: Path) -> None:
    folder = tmp_path / "kinetics400"
    write_annotations(folder, "train", {"AAAAAAAAAAA": "zumba", "BBBBBBBBBBB": "abseiling", "CCCCCCCCCCC": "yoga"})
    validate = write_annotations(folder, "validate", {"EEEEEEEEEEE": "yoga", "FFFFFFFFFFF": "zumba"})
    for clip in ("EEEEEEEEEEE", "FFFFFFFFFFF"):
        write_clip(folder, "validate", clip, list(range(6)))
    (folder / "train").mkdir()
    reader = KineticsFrames(folder, "validate")
    assert reader.classes == ["abseiling", "yoga", "zumba"] and reader.labels().tolist() == [1, 2]
    write_annotations(folder, "validate", {"EEEEEEEEEEE": "yoga", "FFFFFFFFFFF": "bowling"})
    with pytest.raises(DataCorrupt, match=f"{validate}: clip FFFFFFFFFFF has label 'bowling'"):
        KineticsFrames(folder, "validate")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"AAAAAAAAAAA": {"annotations": {}}}', "clip AAAAAAAAAAA has no annotations.label"),
        ("[1, 2]", "holds a JSON list"),
        ("{", "not a JSON annotation file"),
    ],
)
def test_malformed_annotations_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    folder = write_kinetics(tmp_path, clips={"train": 1}, frames=6, size=8, short=0)
    path = folder / "annotations" / "train.json"
    path.write_text(content)
    with pytest.raises(DataCorrupt, match=re.escape(f"{path}: {message}")):
        KineticsFrames(folder, "train")


def test_writer_clips_are_learnable_and_ordered(tmp_path: Path) -> None:
    folder = write_kinetics(tmp_path, clips={"train": 2}, frames=8, size=16)
    reader = KineticsFrames(folder, "train")
    assert len(reader.skipped) == 2 and reader.classes == sorted(LABELS)
    for row in reader.samples():
        names = [reader.image_ids()[i] for i in row]
        assert names == sorted(names)  # zero-padded numbers: time order is name order
        first, last = reader.image(int(row[0])).astype(int), reader.image(int(row[-1])).astype(int)
        assert np.abs(first[:, :4] - 110).mean() > np.abs(last[:, :4] - 110).mean()  # the disc moves right
    corrupt = folder / reader.image_ids()[3]
    corrupt.write_bytes(b"broken")
    with pytest.raises(DataCorrupt, match=str(corrupt)):
        reader.image(3)


def test_clip_id_reaching_outside_the_data_folder_is_refused(tmp_path: Path) -> None:
    """A clip's frames are looked for in `<split>/<id[:2]>/`: an id starting with '/' would list /<c>."""
    folder = write_kinetics(tmp_path, clips={"train": 1}, frames=6, size=8, short=0)
    path = folder / "annotations" / "train.json"
    content = json.loads(path.read_text())
    content["/tmpclip000"] = {"annotations": {"label": LABELS[0]}}
    path.write_text(json.dumps(content))
    with pytest.raises(DataCorrupt, match=re.escape(f"{path}: clip '/tmpclip000': names /t, outside the data folder")):
        KineticsFrames(folder, "train")
