"""CLEVR Count reader: scenes matched by file name, count - 3 labels, RGBA renders, broken scenes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.clevr import ClevrCount
from tests.reader_base import ReaderTests
from tests.writers.clevr import write_clevr

SIZES = {"train": 10, "val": 8}


class TestClevrCount(ReaderTests):
    READER = ClevrCount
    SPLITS = ("train", "val")
    DATA_FOLDER = "CLEVR_v1.0"

    def write_fixture(self, root: Path, split: str) -> int:
        write_clevr(root, n_train=SIZES["train"], n_val=SIZES["val"])
        return SIZES[split]

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / "CLEVR_v1.0"
        return [
            folder / "scenes" / f"CLEVR_{split}_scenes.json",
            folder / "images" / split,
            folder / "images" / split / f"CLEVR_{split}_000003.png",
        ]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        edit_scenes(root / self.DATA_FOLDER, split, lambda content: content["info"].update(date="1/1/2018"))
        return True


def edit_scenes(folder: Path, split: str, edit) -> Path:
    """Apply `edit` to the parsed scenes file of `split` and write it back; return its path."""
    path = folder / "scenes" / f"CLEVR_{split}_scenes.json"
    content = json.loads(path.read_text())
    edit(content)
    path.write_text(json.dumps(content))
    return path


def test_scenes_are_matched_by_file_name_not_position(tmp_path: Path) -> None:
    folder = write_clevr(tmp_path, n_train=12, n_val=3, shuffle_scenes=True)
    scenes = json.loads((folder / "scenes" / "CLEVR_train_scenes.json").read_text())["scenes"]
    assert [scene["image_index"] for scene in scenes] != list(range(12))
    reader = ClevrCount(folder, "train")
    assert reader.image_ids() == [f"images/train/CLEVR_train_{i:06d}.png" for i in range(12)]
    assert reader.labels().tolist() == [i % 8 for i in range(12)]
    assert reader.classes == ["3", "4", "5", "6", "7", "8", "9", "10"]


def test_rgba_render_decodes_to_rgb_with_the_drawn_objects(tmp_path: Path) -> None:
    folder = write_clevr(tmp_path, n_train=8, n_val=1)
    reader = ClevrCount(folder, "train")

    def object_pixels(index: int) -> int:
        image = reader.image(index)
        assert image.shape == (32, 48, 3) and image.dtype == np.uint8
        return int((np.abs(image.astype(int) - 160).max(axis=2) > 40).sum())

    assert reader.labels()[[0, 7]].tolist() == [0, 7]
    assert object_pixels(7) > 2 * object_pixels(0) > 0  # 10 discs against 3


@pytest.mark.parametrize("count", [2, 11])
def test_count_outside_3_to_10_names_file_and_image(tmp_path: Path, count: int) -> None:
    folder = write_clevr(tmp_path, n_train=4, n_val=2)

    def set_count(content: dict) -> None:
        scene = content["scenes"][1]
        scene["objects"] = (scene["objects"] * 4)[:count]

    path = edit_scenes(folder, "val", set_count)
    with pytest.raises(DataCorrupt, match=f"{path}: scene of CLEVR_val_000001.png has {count} objects"):
        ClevrCount(folder, "val")


def test_image_without_scene_is_refused(tmp_path: Path) -> None:
    folder = write_clevr(tmp_path, n_train=4, n_val=2)
    path = edit_scenes(folder, "train", lambda content: content["scenes"].pop(2))
    with pytest.raises(DataCorrupt, match=f"CLEVR_train_000002.png: no scene in {path}"):
        ClevrCount(folder, "train")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"info": {}, "scenes": [', "not a JSON scenes file"),
        ('{"info": {}}', "no 'scenes' list"),
        ('{"scenes": [{"image_index": 0, "objects": []}]}', "scene 0 has no image_filename"),
        (
            '{"scenes": [{"image_filename": "CLEVR_val_000000.png"}]}',
            "scene of CLEVR_val_000000.png has no 'objects' list",
        ),
    ],
)
def test_malformed_scenes_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    folder = write_clevr(tmp_path, n_train=4, n_val=2)
    path = folder / "scenes" / "CLEVR_val_scenes.json"
    path.write_text(content)
    with pytest.raises(DataCorrupt, match=re.escape(f"{path}: {message}")):
        ClevrCount(folder, "val")


def test_duplicate_scene_is_refused(tmp_path: Path) -> None:
    folder = write_clevr(tmp_path, n_train=4, n_val=2)
    path = edit_scenes(folder, "val", lambda content: content["scenes"].append(content["scenes"][0]))
    with pytest.raises(DataCorrupt, match=f"{path}: image CLEVR_val_000000.png has two scenes"):
        ClevrCount(folder, "val")


def test_missing_image_of_a_scene_is_not_found(tmp_path: Path) -> None:
    folder = write_clevr(tmp_path, n_train=4, n_val=2)
    (folder / "images" / "val" / "CLEVR_val_000001.png").unlink()
    with pytest.raises(DataNotFound, match="CLEVR_val_000001.png: missing image of a scene"):
        ClevrCount(folder, "val")
