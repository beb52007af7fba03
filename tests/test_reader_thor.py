"""THOR readers: ViRB's label-file keys and action names, image/label matching, frame pairs, damage."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.thor import ACTIONS, ThorEgomotion, ThorNumSteps
from tests.reader_base import ReaderTests, append_blank_line
from tests.writers.images import rewrite_larger
from tests.writers.thor import ramp_means, white_fraction, write_thor_egomotion, write_thor_num_steps

COUNTS = {"train": 10, "val": 5}


def solid_jpeg(path: Path, colour: tuple[int, int, int], size: int = 16, mode: str = "RGB") -> None:
    """A flat-colour JPEG (in `mode`), so decoding can be checked within JPEG error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).convert(mode).save(path, quality=95)


def write_lines(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


class TestThorNumSteps(ReaderTests):
    READER = ThorNumSteps
    SPLITS = ("train", "val")
    DATA_FOLDER = "thor_num_steps"

    def write_fixture(self, root: Path, split: str) -> int:
        write_thor_num_steps(root, n_train=COUNTS["train"], n_val=COUNTS["val"], size=16)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / self.DATA_FOLDER
        return [folder / split, folder / f"{split}_labels.txt", folder / split / "FloorPlan1" / "000003_rgb.jpg"]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(root / self.DATA_FOLDER / split / "FloorPlan1" / "000001_rgb.jpg")
        return True


class TestThorEgomotion(ReaderTests):
    READER = ThorEgomotion
    SPLITS = ("train", "val")
    DATA_FOLDER = "thor_action_prediction"

    def write_fixture(self, root: Path, split: str) -> int:
        write_thor_egomotion(root, n_train=COUNTS["train"], n_val=COUNTS["val"], size=16)
        return COUNTS[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / self.DATA_FOLDER / split / "FloorPlan1"
        labels = root / self.DATA_FOLDER / f"{split}_labels.txt"
        return [labels, folder / "000000_rgb_a.jpg", folder / "000004_rgb_b.jpg"]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        append_blank_line(root / self.DATA_FOLDER / f"{split}_labels.txt")
        return True


def test_num_steps_sorts_images_and_looks_labels_up_by_key(tmp_path: Path) -> None:
    folder = tmp_path / "thor_num_steps"
    colours = {"train/b/7": (250, 0, 0), "train/a10/1": (0, 250, 0), "train/a/2": (0, 0, 250)}
    for key, colour in colours.items():
        solid_jpeg(folder / f"{key}_rgb.jpg", colour)
    solid_jpeg(folder / "train/a/2_depth.jpg", (9, 9, 9))
    (folder / "train" / "notes.txt").write_text("not an image")
    write_lines(folder / "train_labels.txt", "train/b/7 4", "train/a/2 0", "train/a10/1 3", "train/a/2 0")
    reader = ThorNumSteps(folder, "train")
    assert reader.image_ids() == ["train/a/2_rgb.jpg", "train/a10/1_rgb.jpg", "train/b/7_rgb.jpg"]
    assert reader.labels().tolist() == [0, 3, 4]
    assert reader.labels().dtype == np.int64
    assert np.abs(reader.image(2).astype(int) - [250, 0, 0]).max() <= 3
    assert reader.classes == ["0", "1", "2", "3", "4"]


def test_num_steps_accepts_crlf_and_grayscale(tmp_path: Path) -> None:
    folder = tmp_path / "thor_num_steps"
    solid_jpeg(folder / "val/d/0_rgb.jpg", (128, 128, 128), mode="L")
    (folder / "val_labels.txt").write_bytes(b"val/d/0 2\r\n\r\n")
    reader = ThorNumSteps(folder, "val")
    assert reader.image(0).shape == (16, 16, 3)
    assert reader.labels().tolist() == [2]


def test_num_steps_unlabeled_image_is_named(tmp_path: Path) -> None:
    folder = write_thor_num_steps(tmp_path, n_train=3, n_val=1, size=16)
    solid_jpeg(folder / "train/FloorPlan9/extra_rgb.jpg", (1, 2, 3))
    message = (
        f"{folder / 'train/FloorPlan9/extra_rgb.jpg'}: no line 'train/FloorPlan9/extra <steps>' in "
        f"{folder / 'train_labels.txt'}"
    )
    with pytest.raises(DataCorrupt, match=re.escape(message)):
        ThorNumSteps(folder, "train")


def test_num_steps_label_line_without_image_names_image_and_line(tmp_path: Path) -> None:
    folder = write_thor_num_steps(tmp_path, n_train=3, n_val=1, size=16)
    with open(folder / "train_labels.txt", "a") as handle:
        handle.write("train/FloorPlan1/gone 1\n")
    with pytest.raises(
        DataNotFound,
        match=re.escape(
            f"{folder / 'train/FloorPlan1/gone_rgb.jpg'}: missing image for line 4 of {folder / 'train_labels.txt'}"
        ),
    ):
        ThorNumSteps(folder, "train")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("train/FloorPlan1/000000 5", "line 1: steps 5 outside 0..4"),
        ("train/FloorPlan1/000000 -1", "line 1: steps -1 outside 0..4"),
        ("train/FloorPlan1/000000 two", "line 1: steps 'two' is not an integer"),
        ("train/FloorPlan1/000000", "line 1: expected 'key value'"),
        ("train/FloorPlan1/000000 1 2", "line 1: expected 'key value'"),
    ],
)
def test_num_steps_bad_label_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    folder = write_thor_num_steps(tmp_path, n_train=1, n_val=1, size=16)
    write_lines(folder / "train_labels.txt", line)
    with pytest.raises(DataCorrupt, match=re.escape(f"{folder / 'train_labels.txt'}: {message}")):
        ThorNumSteps(folder, "train")


def test_num_steps_conflicting_duplicate_key_is_refused(tmp_path: Path) -> None:
    folder = write_thor_num_steps(tmp_path, n_train=1, n_val=1, size=16)
    write_lines(folder / "train_labels.txt", "train/FloorPlan1/000000 1", "train/FloorPlan1/000000 2")
    with pytest.raises(DataCorrupt, match=r"line 2: train/FloorPlan1/000000 labelled 2, but 1 on line 1"):
        ThorNumSteps(folder, "train")


def test_num_steps_corrupt_image_is_named(tmp_path: Path) -> None:
    folder = write_thor_num_steps(tmp_path, n_train=2, n_val=1, size=16)
    reader = ThorNumSteps(folder, "train")
    broken = folder / reader.image_ids()[1]
    broken.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataCorrupt, match=re.escape(f"{broken}: cannot decode image")):
        ThorNumSteps(folder, "train").image(1)


def test_num_steps_manifest_follows_labels_and_images(tmp_path: Path) -> None:
    folder = write_thor_num_steps(tmp_path, n_train=5, n_val=1, size=16)
    before = ThorNumSteps(folder, "train").manifest_digest
    solid_jpeg(folder / "train/FloorPlan1/000000_rgb.jpg", (5, 5, 5), size=20)
    after_image = ThorNumSteps(folder, "train").manifest_digest
    labels = folder / "train_labels.txt"
    labels.write_text(labels.read_text().replace("000000 ", "000000  "))
    assert len({before, after_image, ThorNumSteps(folder, "train").manifest_digest}) == 3


def test_num_steps_fixture_is_learnable(tmp_path: Path) -> None:
    """The yellow area falls with the label, so pooled features separate the classes."""
    reader = ThorNumSteps(write_thor_num_steps(tmp_path, n_train=20, n_val=1, size=32), "train")
    yellow = np.array(
        [((image := reader.image(i).astype(int))[..., 0] > 180) & (image[..., 2] < 120) for i in range(len(reader))]
    ).mean(axis=(1, 2))
    means = [yellow[reader.labels() == steps].mean() for steps in range(5)]
    assert all(near > far for near, far in zip(means, means[1:]))


def test_egomotion_pairs_frames_in_order_with_the_fixed_action_map(tmp_path: Path) -> None:
    folder = tmp_path / "thor_action_prediction"
    lines = [f"val/s/{i} {action}" for i, action in enumerate(reversed(ACTIONS))]
    for i in range(len(ACTIONS)):
        solid_jpeg(folder / f"val/s/{i}_rgb_a.jpg", (10 * i, 0, 0))
        solid_jpeg(folder / f"val/s/{i}_rgb_b.jpg", (0, 10 * i, 200))
    write_lines(folder / "val_labels.txt", *lines, "val/s/0 LookDown")
    reader = ThorEgomotion(folder, "val")
    assert reader.labels().tolist() == [4, 3, 2, 1, 0, 4]
    assert reader.classes == ["MoveAhead", "RotateLeft", "RotateRight", "LookUp", "LookDown"]
    samples = reader.samples()
    assert samples.dtype == np.int64 and samples.shape == (6, 2)
    assert len(reader) == 10 and samples[5].tolist() == samples[0].tolist()
    ids = reader.image_ids()
    assert [ids[a] for a, _ in samples[:2]] == ["val/s/0_rgb_a.jpg", "val/s/1_rgb_a.jpg"]
    assert [ids[b] for _, b in samples[:2]] == ["val/s/0_rgb_b.jpg", "val/s/1_rgb_b.jpg"]
    assert reader.image(int(samples[1, 1]))[..., 2].mean() > 190


def test_egomotion_unknown_action_names_file_and_line(tmp_path: Path) -> None:
    folder = write_thor_egomotion(tmp_path, n_train=2, n_val=1, size=16)
    with open(folder / "train_labels.txt", "a") as handle:
        handle.write("train/FloorPlan1/000000 Teleport\n")
    with pytest.raises(
        DataCorrupt, match=re.escape(f"{folder / 'train_labels.txt'}: line 3: unknown action 'Teleport'")
    ):
        ThorEgomotion(folder, "train")


def test_empty_splits_are_refused(tmp_path: Path) -> None:
    steps = write_thor_num_steps(tmp_path, n_train=1, n_val=0, size=16)
    (steps / "val").mkdir()
    with pytest.raises(DataNotFound, match=re.escape(f"{steps / 'val'}: no <dir>/*rgb.jpg images")):
        ThorNumSteps(steps, "val")
    egomotion = write_thor_egomotion(tmp_path, n_train=1, n_val=0, size=16)
    with pytest.raises(DataCorrupt, match=re.escape(f"{egomotion / 'val_labels.txt'}: no '<prefix> <Action>' lines")):
        ThorEgomotion(egomotion, "val")


def test_egomotion_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    folder = write_thor_egomotion(tmp_path, n_train=2, n_val=1, size=16)
    write_lines(folder / "val_labels.txt", "val/FloorPlan1/000000MoveAhead")
    with pytest.raises(DataCorrupt, match=re.escape(f"{folder / 'val_labels.txt'}: line 1: expected 'key value'")):
        ThorEgomotion(folder, "val")


def test_egomotion_fixture_is_learnable(tmp_path: Path) -> None:
    """Frame b moves against frame a as the action says: red follows x, green follows y, and the
    white centre disc grows when moving ahead."""
    reader = ThorEgomotion(write_thor_egomotion(tmp_path, n_train=10, n_val=1, size=32), "train")
    for (a, b), label in zip(reader.samples(), reader.labels()):
        first, second = reader.image(int(a)), reader.image(int(b))
        red, green = np.subtract(ramp_means(second), ramp_means(first))
        white = white_fraction(second) - white_fraction(first)
        action = ACTIONS[label]
        assert {
            "MoveAhead": white > 0.03 and abs(red) < 5 and abs(green) < 5,
            "RotateLeft": red < -10,
            "RotateRight": red > 10,
            "LookUp": green < -10,
            "LookDown": green > 10,
        }[action], action
