"""CLEVR v1.0 object counting (the official `CLEVR_v1.0.zip`, extracted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListReader

MIN_OBJECTS, MAX_OBJECTS = 3, 10
"""Every CLEVR scene has 3..10 objects; label = count - MIN_OBJECTS, 8 classes as in VTAB."""


class Scene(NamedTuple):
    """What the count task needs of one scene record; `objects` is None when the record has no list."""

    filename: Any
    objects: int | None


def _slim_scene(record: dict[str, Any]) -> Any:
    """json object hook: replace each scene record by a Scene as soon as it is parsed, so the
    relationships, directions and per-object attributes of 70,000 scenes are never all held at once."""
    if "image_filename" not in record:
        return record
    objects = record.get("objects")
    return Scene(record["image_filename"], len(objects) if isinstance(objects, list) else None)


def read_object_counts(path: Path) -> dict[str, int]:
    """image_filename -> number of objects, from a CLEVR scenes file, checked scene by scene."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle, object_hook=_slim_scene)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataCorrupt(f"{path}: not a JSON scenes file ({error}); re-extract CLEVR_v1.0.zip") from None
    scenes = content.get("scenes") if isinstance(content, dict) else None
    if not isinstance(scenes, list):
        raise DataCorrupt(
            f"{path}: no 'scenes' list; expected {{'info': ..., 'scenes': [...]}}, re-extract CLEVR_v1.0.zip"
        )
    counts: dict[str, int] = {}
    for position, scene in enumerate(scenes):
        if not isinstance(scene, Scene) or not isinstance(scene.filename, str):
            raise DataCorrupt(f"{path}: scene {position} has no image_filename string; re-extract CLEVR_v1.0.zip")
        if scene.objects is None:
            raise DataCorrupt(f"{path}: scene of {scene.filename} has no 'objects' list; re-extract CLEVR_v1.0.zip")
        if not MIN_OBJECTS <= scene.objects <= MAX_OBJECTS:
            raise DataCorrupt(
                f"{path}: scene of {scene.filename} has {scene.objects} objects, outside "
                f"{MIN_OBJECTS}..{MAX_OBJECTS}; not an official CLEVR v1.0 scene, re-extract the zip"
            )
        if scene.filename in counts:
            raise DataCorrupt(f"{path}: image {scene.filename} has two scenes; re-extract CLEVR_v1.0.zip")
        counts[scene.filename] = scene.objects
    return counts


class ClevrCount(FileListReader):
    """CLEVR Count: how many objects (3..10) a rendered scene holds.

    Tree under the task's data folder (`<data-root>/CLEVR_v1.0`, as `CLEVR_v1.0.zip` extracts)::

        CLEVR_v1.0/
            images/train/CLEVR_train_000000.png ... CLEVR_train_069999.png   480x320 RGBA PNGs
            images/val/CLEVR_val_000000.png ... CLEVR_val_014999.png
            scenes/CLEVR_train_scenes.json   {"info": {...}, "scenes": [{"image_index", "image_filename",
            scenes/CLEVR_val_scenes.json      "split", "objects": [{...}, ...], "relationships", ...}, ...]}
            (images/test, questions/, README, LICENSE are not read)

    Splits `train` (70,000) and `val` (15,000; the paper's test set, as in VTAB). Each scene is
    matched to its image by `image_filename`, never by list position; every scene needs its image
    (else DataNotFound naming it) and every PNG in the folder needs a scene (else DataCorrupt).
    Samples are sorted by file name (= image_index order). `image(i)` is (320, 480, 3) uint8 RGB
    (alpha dropped); `labels()` int64 = number of objects - 3, 8 classes 0..7 (VTAB's count_all;
    the original ViRB code used the raw count with 11 outputs). A scene outside 3..10 objects is
    DataCorrupt naming the scenes file and the image.
    """

    SPLITS = ("train", "val")
    LAYOUT = (
        "CLEVR_v1.0/images/{train,val}/CLEVR_<split>_NNNNNN.png and "
        "CLEVR_v1.0/scenes/CLEVR_{train,val}_scenes.json (CLEVR_v1.0.zip extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [str(count) for count in range(MIN_OBJECTS, MAX_OBJECTS + 1)]
        self.scenes_path = self.require_index(self.root / "scenes" / f"CLEVR_{split}_scenes.json")
        folder = self.require(self.root / "images" / split)
        counts = read_object_counts(self.scenes_path)
        on_disk = {path.name for path in folder.iterdir() if path.suffix.lower() == ".png"}
        names = sorted(counts)
        for name in names:
            if name not in on_disk:
                raise DataNotFound(
                    f"{folder / name}: missing image of a scene in {self.scenes_path}; expected {self.LAYOUT}"
                )
        unmatched = sorted(on_disk.difference(counts))
        if unmatched:
            raise DataCorrupt(
                f"{folder / unmatched[0]}: no scene in {self.scenes_path} ({len(unmatched)} image(s) "
                "without one); re-extract CLEVR_v1.0.zip"
            )
        self._paths = [folder / name for name in names]
        self._labels = np.array([counts[name] - MIN_OBJECTS for name in names], dtype=np.int64)
