"""AI2-THOR tasks in the layouts of the ViRB-hosted zips (`thor_num_steps.zip`, `thor_egomotion.zip`).

These datasets were only ever published in the original ViRB code's own layout, so the readers
follow that code's paths, key conventions and label maps exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListFrameReader, FileListReader

NUM_STEPS_CLASSES = ("0", "1", "2", "3", "4")
"""Class i is "i steps"; the paper's 5 classes."""

ACTIONS = ("MoveAhead", "RotateLeft", "RotateRight", "LookUp", "LookDown")
"""Egomotion class i is ACTIONS[i], the original code's fixed map."""

RGB_SUFFIX = "_rgb.jpg"
FRAME_SUFFIXES = ("_rgb_a.jpg", "_rgb_b.jpg")


def read_pairs(path: Path) -> list[tuple[int, str, str]]:
    """Lines "key value" of a ViRB label file as (line number, key, value); blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataCorrupt(f"{path}: not a UTF-8 text label file ({error}); re-extract the zip") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataCorrupt(f"{path}: line {number}: expected 'key value', got {line.strip()!r}; re-extract the zip")
        pairs.append((number, fields[0], fields[1]))
    return pairs


class ThorNumSteps(FileListReader):
    """THOR Num. Steps: how many steps (0..4) the agent is from the view's target, one image each.

    Tree under the task's data folder (`<data-root>/thor_num_steps`, from ViRB's thor_num_steps.zip)::

        thor_num_steps/
            train/<dir>/<id>_rgb.jpg     every file matching `*rgb.jpg`, one folder level deep
            val/<dir>/<id>_rgb.jpg
            train_labels.txt             lines "<key> <steps>", key = "train/<dir>/<id>"
            val_labels.txt               the same for val

    The key is the image path relative to this folder without its last 8 characters (`_rgb.jpg`),
    as the original code cut it. Images are sorted by relative path (the original's sorted glob).
    Every image needs a label line (else DataCorrupt naming the image: the original code failed
    on it too) and every label line needs its image (else DataNotFound naming the image). Other
    files in the folders (e.g. depth JPEGs) are ignored.

    `image(i)` is (H, W, 3) uint8 RGB; `labels()` int64 steps in 0..4 (class i = NUM_STEPS_CLASSES[i]).
    The paper uses val as the test split; full dataset 60,000 train images.
    """

    SPLITS = ("train", "val")
    LAYOUT = (
        "thor_num_steps/{train,val}/<dir>/<id>_rgb.jpg and thor_num_steps/{train,val}_labels.txt "
        "with lines '<split>/<dir>/<id> <steps>' (ViRB's thor_num_steps.zip, extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = list(NUM_STEPS_CLASSES)
        folder = self.require(self.root / split)
        self.labels_path = self.require_index(self.root / f"{split}_labels.txt")
        self._paths = sorted(
            (path for path in folder.glob("*/*rgb.jpg") if path.is_file()),
            key=lambda path: path.relative_to(self.root).as_posix(),
        )
        if not self._paths:
            raise DataNotFound(f"{folder}: no <dir>/*rgb.jpg images; expected {self.LAYOUT}")
        table = self._label_table()
        keys = {image_id[: -len(RGB_SUFFIX)]: image_id for image_id in self._ids}
        for key, (number, _) in table.items():
            if key not in keys:
                raise DataNotFound(
                    f"{self.root / (key + RGB_SUFFIX)}: missing image for line {number} of "
                    f"{self.labels_path}; expected {self.LAYOUT}"
                )
        unlabeled = [image_id for key, image_id in keys.items() if key not in table]
        if unlabeled:
            raise DataCorrupt(
                f"{self.root / unlabeled[0]}: no line '{unlabeled[0][: -len(RGB_SUFFIX)]} <steps>' in "
                f"{self.labels_path} ({len(unlabeled)} image(s) unlabeled); re-extract the zip"
            )
        self._labels = np.array([table[image_id[: -len(RGB_SUFFIX)]][1] for image_id in self._ids], dtype=np.int64)

    def _label_table(self) -> dict[str, tuple[int, int]]:
        """key -> (line number, steps); a repeated key must repeat its label."""
        table: dict[str, tuple[int, int]] = {}
        for number, key, value in read_pairs(self.labels_path):
            try:
                steps = int(value)
            except ValueError:
                raise DataCorrupt(f"{self.labels_path}: line {number}: steps {value!r} is not an integer") from None
            if not 0 <= steps < len(NUM_STEPS_CLASSES):
                raise DataCorrupt(
                    f"{self.labels_path}: line {number}: steps {steps} outside 0..{len(NUM_STEPS_CLASSES) - 1}"
                )
            if key in table and table[key][1] != steps:
                raise DataCorrupt(
                    f"{self.labels_path}: line {number}: {key} labelled {steps}, but "
                    f"{table[key][1]} on line {table[key][0]}"
                )
            table.setdefault(key, (number, steps))
        return table


class ThorEgomotion(FileListFrameReader):
    """THOR Egomotion: which action (of 5) the agent took between two frames.

    Tree under the task's data folder (`<data-root>/thor_action_prediction`, ViRB's thor_egomotion.zip)::

        thor_action_prediction/
            train_labels.txt             lines "<prefix> <Action>", Action in MoveAhead, RotateLeft,
            val_labels.txt               RotateRight, LookUp, LookDown
            <prefix>_rgb_a.jpg           the frame before the action (prefix relative to this folder)
            <prefix>_rgb_b.jpg           the frame after it

    The images are the frames (each distinct path once, in order of first use); `samples()` is
    (S, 2) int64 frame indices [a, b], one row per label line in file order; `labels()` int64
    class = index in ACTIONS (MoveAhead 0, RotateLeft 1, RotateRight 2, LookUp 3, LookDown 4).
    A missing frame fails at construction. The paper uses val as the test split; full dataset
    60,000 train pairs.
    """

    SPLITS = ("train", "val")
    FRAMES = 2
    LAYOUT = (
        "thor_action_prediction/{train,val}_labels.txt with lines '<prefix> <Action>' and frames "
        "thor_action_prediction/<prefix>_rgb_a.jpg, <prefix>_rgb_b.jpg (ViRB's thor_egomotion.zip, extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = list(ACTIONS)
        self.labels_path = self.require_index(self.root / f"{split}_labels.txt")
        pairs = self._pairs()
        self.index_frames([prefix + suffix for suffix in FRAME_SUFFIXES] for prefix, _ in pairs)
        self._labels = np.array([label for _, label in pairs], dtype=np.int64)

    def _pairs(self) -> list[tuple[str, int]]:
        """(prefix, class) per line, the whole file checked before any frame is looked for."""
        action_index = {action: index for index, action in enumerate(ACTIONS)}
        pairs = []
        for number, prefix, action in read_pairs(self.labels_path):
            if action not in action_index:
                raise DataCorrupt(
                    f"{self.labels_path}: line {number}: unknown action {action!r}; "
                    f"expected one of {', '.join(ACTIONS)}"
                )
            self.inside(self.root / prefix, f"{self.labels_path}: line {number}")
            pairs.append((prefix, action_index[action]))
        if not pairs:
            raise DataCorrupt(f"{self.labels_path}: no '<prefix> <Action>' lines; re-extract the zip")
        return pairs
