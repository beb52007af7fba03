"""nuScenes egomotion: ViRB's frame-pair lists over the official nuScenes camera images."""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import numpy as np

from tasks.errors import DataCorrupt
from tasks.readers.base import FileListFrameReader

MOTIONS = ("forward", "forward-left", "forward-right", "none")
"""The protocol's four motions: class i is MOTIONS[i] when the lists use these names (this is
also the sorted order the original code derived from the labels)."""

PAIR_KEYS = ("img_a", "img_b", "label")


class NuScenesEgomotion(FileListFrameReader):
    """nuScenes Egomotion: how the car moved between two front-camera frames (4 classes).

    Tree under the task's data folder (`<data-root>/nuScenes`: the official nuScenes blobs extracted,
    plus ViRB's two json lists)::

        nuScenes/
            nuScenes_train.json     [{"img_a": "samples/CAM_FRONT/<log>__CAM_FRONT__<us>.jpg",
            nuScenes_test.json        "img_b": "sweeps/CAM_FRONT/<log>__CAM_FRONT__<us>.jpg",
                                      "label": "forward"}, ...]
            samples/CAM_FRONT/*.jpg   official keyframes (1600x900 JPEG)
            sweeps/CAM_FRONT/*.jpg    official non-keyframes
            v1.0-trainval/, maps/, other channels: present in a full extraction, not read

    Paths in the json are relative to this folder. The images are the frames the split uses, each
    distinct path once (in order of first use), so a frame shared by several pairs is decoded and
    encoded once; `samples()` is (S, 2) int64 frame indices [img_a, img_b], one row per json entry
    in file order; `labels()` int64 class index into `classes`. When the train list's labels are
    among MOTIONS the classes are MOTIONS in that order (forward 0, forward-left 1, forward-right 2,
    none 3), so a split lacking a class keeps the same indices; otherwise they are the sorted
    distinct labels of the train list, as the original code derived them (it did so per file,
    so its train and test indices could disagree: here both splits use the train list's classes,
    and a test label the train list lacks is refused). A missing frame fails at construction.
    Full dataset: 28,000 train pairs.
    """

    SPLITS = ("train", "test")
    FRAMES = 2
    LAYOUT = (
        "nuScenes/nuScenes_{train,test}.json (ViRB's lists of {img_a, img_b, label}) next to the official "
        "nuScenes samples/ and sweeps/ folders, extracted from the nuScenes blobs"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.index_path = self.require_index(self.root / f"nuScenes_{split}.json")
        entries = self._entries(self.index_path)
        train_path = self.require_index(self.root / "nuScenes_train.json")
        train_labels = {
            self._label(train_path, n, e["label"])
            for n, e in enumerate(entries if split == "train" else self._entries(train_path))
        }
        self.classes = list(MOTIONS) if train_labels <= set(MOTIONS) else sorted(train_labels)
        pairs = self._pairs(entries)
        self.index_frames(frames for frames, _ in pairs)
        self._labels = np.array([label for _, label in pairs], dtype=np.int64)

    @staticmethod
    def _label(path: Path, number: int, label: Any) -> str:
        if not isinstance(label, str) or not label:
            raise DataCorrupt(f"{path}: entry {number}: label {label!r} is not a motion name; re-download it")
        return label

    def _pairs(self, entries: list[dict[str, Any]]) -> list[tuple[tuple[str, str], int]]:
        """((img_a, img_b), class) per json entry, the whole file checked before any frame is looked for."""
        class_index = {name: index for index, name in enumerate(self.classes)}
        pairs = []
        for number, entry in enumerate(entries):
            label = self._label(self.index_path, number, entry["label"])
            if label not in class_index:
                raise DataCorrupt(
                    f"{self.index_path}: entry {number}: label {label!r} never occurs in the train "
                    f"list (classes: {', '.join(self.classes)}); re-download both lists"
                )
            img_a = self._frame_path(number, "img_a", entry["img_a"])
            pairs.append(((img_a, self._frame_path(number, "img_b", entry["img_b"])), class_index[label]))
        if not pairs:
            raise DataCorrupt(f"{self.index_path}: an empty list; re-download it")
        return pairs

    @staticmethod
    def _entries(path: Path) -> list[dict[str, Any]]:
        """The json list, each entry checked to be an object with the three keys."""
        try:
            with open(path, encoding="utf-8") as handle:
                entries = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataCorrupt(f"{path}: not valid JSON ({error}); re-download it") from None
        if not isinstance(entries, list):
            raise DataCorrupt(
                f"{path}: holds a JSON {type(entries).__name__}, expected a list of "
                "{img_a, img_b, label} objects; re-download it"
            )
        for number, entry in enumerate(entries):
            if not isinstance(entry, dict) or any(key not in entry for key in PAIR_KEYS):
                raise DataCorrupt(
                    f"{path}: entry {number}: expected an object with keys "
                    f"{', '.join(PAIR_KEYS)}, got {str(entry)[:80]}; re-download it"
                )
        return entries

    def _frame_path(self, number: int, key: str, value: Any) -> str:
        """The frame's path relative to the folder, normalised so one file has one id."""
        if not isinstance(value, str) or not value:
            raise DataCorrupt(f"{self.index_path}: entry {number}: {key} is {value!r}, expected a relative path")
        self.inside(self.root / value, f"{self.index_path}: entry {number}: {key}")
        return posixpath.normpath(value)
