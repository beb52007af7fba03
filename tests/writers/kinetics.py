"""Kinetics frames in the original ViRB code's layout: kinetics-downloader annotation JSONs and
`<split>/<id[:2]>/<id>_<n>.jpg` frame files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.synthetic import PALETTE

LABELS = ("abseiling", "playing guitar", "riding a bike")
"""Real Kinetics-400 label strings (lowercase, with spaces)."""

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""The characters of YouTube ids (11 of them each)."""


def youtube_id(rng: np.random.Generator) -> str:
    """A random 11-character YouTube-style id."""
    return "".join(ID_ALPHABET[int(i)] for i in rng.integers(0, len(ID_ALPHABET), 11))


def draw_frame(rng: np.random.Generator, label: int, t: float, size: int) -> np.ndarray:
    """A (size, size, 3) frame: a disc of the label's colour that moves left to right as t goes 0 -> 1."""
    image = rng.normal(110.0, 20.0, size=(size, size, 3))
    radius = 0.2 * size
    cx = radius + t * (size - 2 * radius)
    yy, xx = np.mgrid[0:size, 0:size]
    image[(yy - size / 2) ** 2 + (xx - cx) ** 2 <= radius**2] = PALETTE[label % len(PALETTE)]
    return np.clip(image, 0, 255).astype(np.uint8)


def write_kinetics(
    root: Path,
    labels: Sequence[str] = LABELS,
    clips: dict[str, int] | None = None,
    frames: int = 8,
    short: int = 1,
    size: int = 32,
    seed: int = 0,
    frame_name: str = "{id}_{n:06d}.jpg",
) -> Path:
    """Write `root/kinetics400/` as the original code reads it and return that folder.

    Per split (`clips` maps train/validate to clips per label, default 3 and 2) every label gets
    that many clips of `frames` frames (named by `frame_name`, n from 1 in time order), all kept
    by the reader; plus `short` clips per split with only 3 frames and `short` with no frames at
    all, which the reader must skip. So a split has len(labels) * clips[split] samples. A clip's
    label is the colour of a disc that moves across its frames, so a head can learn it.
    Annotations are kinetics-downloader JSON, `{id: {"annotations": {"label", "segment"},
    "duration", "subset", "url"}}`; every label appears in train.
    """
    clips = clips or {"train": 3, "validate": 2}
    folder = Path(root) / "kinetics400"
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, per_label in clips.items():
        plan = [(label, frames) for label in range(len(labels)) for _ in range(per_label)]
        plan += [(index % len(labels), count) for count in (3, 0) for index in range(short)]
        annotations = {}
        for label, count in plan:
            clip = youtube_id(rng)
            start = int(rng.integers(0, 200))
            annotations[clip] = {
                "annotations": {"label": labels[label], "segment": [float(start), start + 10.0]},
                "duration": 10.0,
                "subset": split,
                "url": f"https://www.youtube.com/watch?v={clip}",
            }
            (folder / split / clip[:2]).mkdir(parents=True, exist_ok=True)
            for n in range(1, count + 1):
                frame = draw_frame(rng, label, (n - 1) / max(count - 1, 1), size)
                Image.fromarray(frame).save(folder / split / clip[:2] / frame_name.format(id=clip, n=n), quality=95)
        (folder / "annotations" / f"{split}.json").write_text(json.dumps(annotations, indent=1))
    return folder
