"""Kinetics-400 action classification from pre-extracted frames, in the original ViRB code's layout.

Kinetics ships YouTube ids, not pixels; the only frame layout the paper's code reads is its own
(`data/kinetics400/`), so this reader follows that code's paths and annotation format exactly.
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt
from tasks.readers.base import FileListFrameReader

CLIP_FRAMES = 6
"""Frames per clip, as the original code stacked them."""

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
"""Files matching `<id>_*` with one of these suffixes (any case) are frames; others are ignored."""

DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[object, ...], str]:
    """Sort key that orders embedded numbers by value (`x_2.jpg` before `x_10.jpg`), ties by the name."""
    parts = DIGITS.split(name)
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts)), name


def pick_frames(count: int) -> list[int]:
    """CLIP_FRAMES indices spread evenly over `count` >= CLIP_FRAMES time-ordered frames, first and last
    included (integer arithmetic, so the same on every machine)."""
    return [k * (count - 1) // (CLIP_FRAMES - 1) for k in range(CLIP_FRAMES)]


def read_annotations(path: Path) -> dict[str, str]:
    """clip id -> label string, from a kinetics-downloader json `{id: {"annotations": {"label": ...}, ...}}`."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataCorrupt(
            f"{path}: not a JSON annotation file ({error}); expected the kinetics-downloader "
            "format {id: {'annotations': {'label': ...}}}"
        ) from None
    if not isinstance(content, dict):
        raise DataCorrupt(f"{path}: holds a JSON {type(content).__name__}, expected an object keyed by clip id")
    labels = {}
    for clip, entry in content.items():
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        label = annotations.get("label") if isinstance(annotations, dict) else None
        if not isinstance(label, str) or not label:
            raise DataCorrupt(
                f"{path}: clip {clip} has no annotations.label string; expected "
                "{id: {'annotations': {'label': ...}}}"
            )
        labels[clip] = label
    return labels


class KineticsFrames(FileListFrameReader):
    """Kinetics-400 action classification: 6 frames of a clip in, its action (of 400) out.

    Tree under the task's data folder (`<data-root>/kinetics400`, the original code's `data/kinetics400`)::

        kinetics400/
            annotations/train.json       kinetics-downloader format: {"<youtube id>": {"annotations":
            annotations/validate.json        {"label": "abseiling", "segment": [t0, t1]}, "duration", "subset",
                                             "url"}, ...}
            train/<id[:2]>/<id>_<n>.jpg  the clip's frames, e.g. train/-a/-abc123XYZ0_000001.jpg
            validate/<id[:2]>/<id>_<n>.jpg

    A clip's frames are the files `<split>/<id[:2]>/<id>_*` (the original code's glob) ending in
    .jpg, .jpeg or .png, put in time order by a natural sort of their names (embedded numbers by
    value, so unpadded `_9` comes before `_10`). A clip with fewer than 6 frames (or none, or no
    `<id[:2]>` folder) is skipped, as in the original code; `skipped` maps each skipped clip id to
    the number of frames found. A kept clip uses 6 frames spread evenly over its frames, the first
    and last included (`pick_frames`; all of them when it has exactly 6). The original code took
    the first 6 names of an unsorted glob, i.e. a file-system-dependent subset; an even spread
    covers the clip as that subset did on average, and is the same on every machine.

    Classes are the distinct labels of annotations/train.json, sorted (so train and validate agree,
    and every class exists even where its clips are missing: 400 on Kinetics-400); a validate
    label absent from train is DataCorrupt. Clips are in sorted id order.

    The images are the chosen frames, 6 per clip in sample order; `samples()` is (S, 6) int64 frame
    indices, each row in time order; `labels()` int64 class index per clip; `image(i)` (H, W, 3)
    uint8 RGB; `image_ids()` the frame path relative to this folder. Splits `train` and `validate`
    (the paper's test set); clip counts depend on which videos the user could download and
    extract (the original README lists 50,000 for train).
    """

    SPLITS = ("train", "validate")
    FRAMES = CLIP_FRAMES
    LAYOUT = (
        "kinetics400/annotations/{train,validate}.json ({id: {'annotations': {'label': ...}}}) and frames "
        "kinetics400/{train,validate}/<id[:2]>/<id>_<n>.jpg (the original ViRB code's layout)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.train_annotations = self.require_index(self.root / "annotations" / "train.json")
        self.annotations = self.require_index(self.root / "annotations" / f"{split}.json")
        folder = self.require(self.root / split)
        train_labels = read_annotations(self.train_annotations)
        self.classes = sorted(set(train_labels.values()))
        class_index = {name: index for index, name in enumerate(self.classes)}
        clip_labels = train_labels if split == "train" else read_annotations(self.annotations)
        self.skipped: dict[str, int] = {}
        self._paths: list[Path] = []
        labels: list[int] = []
        listings: dict[str, list[str]] = {}
        for clip in sorted(clip_labels):
            label = clip_labels[clip]
            if label not in class_index:
                raise DataCorrupt(
                    f"{self.annotations}: clip {clip} has label {label!r}, which no clip in "
                    f"{self.train_annotations} has; the two files must come from the same release"
                )
            self.inside(folder / clip[:2], f"{self.annotations}: clip {clip!r}")
            frames = self._frames(folder, clip, listings)
            if len(frames) < CLIP_FRAMES:
                self.skipped[clip] = len(frames)
                continue
            self._paths += [folder / clip[:2] / frames[k] for k in pick_frames(len(frames))]
            labels.append(class_index[label])
        self._labels = np.array(labels, dtype=np.int64)
        self._samples = np.arange(len(self._paths), dtype=np.int64).reshape(-1, CLIP_FRAMES)

    @staticmethod
    def _frames(folder: Path, clip: str, listings: dict[str, list[str]]) -> list[str]:
        """The clip's frame names in time order; each `<id[:2]>` folder is listed (and sorted) once."""
        prefix = clip[:2]
        if prefix not in listings:
            bucket = folder / prefix
            listings[prefix] = sorted(path.name for path in bucket.iterdir()) if bucket.is_dir() else []
        names = listings[prefix]
        start = clip + "_"
        frames = []
        for name in names[bisect.bisect_left(names, start) :]:
            if not name.startswith(start):
                break
            if name.lower().endswith(FRAME_SUFFIXES):
                frames.append(name)
        return sorted(frames, key=natural_key)
