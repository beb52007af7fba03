"""A tiny nuScenes egomotion dataset: official samples/sweeps CAM_FRONT file names plus ViRB's json lists.

Each scene has one keyframe (img_a, under samples/) shared by PAIRS_PER_KEYFRAME pairs whose
img_b (under sweeps/) is a window on the same synthetic scene moved by the label: zoomed in
(forward), zoomed in and shifted left or right (forward-left, forward-right) or unchanged (none).
The change in mean colour and in the central disc's size between the frames gives the label.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tasks.readers.nuscenes import MOTIONS
from tests.writers.images import save_jpeg
from tests.writers.thor import CANVAS, SHIFT, WINDOW, ZOOM, balanced_labels, draw_scene, view

MOVES = {
    "forward": (0, 0, 1 / ZOOM),
    "forward-left": (-SHIFT, 0, 1 / ZOOM),
    "forward-right": (SHIFT, 0, 1 / ZOOM),
    "none": (0, 0, 1.0),
}
"""Label -> (window dx, window dy, window scale) from img_a to img_b."""
PAIRS_PER_KEYFRAME = 2
LOGS = {"train": "n008-2018-08-01-15-16-36-0400", "test": "n008-2018-08-28-16-43-51-0400"}
"""One official-style log name per split, so the splits' file names never collide."""
CHANNEL = "CAM_FRONT"


def frame_name(split: str, timestamp_us: int) -> str:
    """The official `<log>__<CHANNEL>__<timestamp in microseconds>.jpg` file name."""
    return f"{LOGS[split]}__{CHANNEL}__{timestamp_us}.jpg"


def write_nuscenes_egomotion(
    root: str | Path, n_train: int = 40, n_test: int = 20, size: int = 32, seed: int = 0
) -> Path:
    """Write `root/nuScenes/samples/CAM_FRONT/*.jpg`, `sweeps/CAM_FRONT/*.jpg` and
    `nuScenes_{train,test}.json` (lists of {img_a, img_b, label}, labels balanced over MOTIONS,
    each keyframe shared by up to PAIRS_PER_KEYFRAME pairs); return the folder."""
    folder = Path(root) / "nuScenes"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        entries = []
        timestamp = 1533151603512404
        for i, label in enumerate(balanced_labels(rng, n, len(MOTIONS))):
            if i % PAIRS_PER_KEYFRAME == 0:
                scene = draw_scene(rng)
                cx, cy = CANVAS / 2 + rng.uniform(-3, 3, size=2)
                timestamp += 500_000
                img_a = f"samples/{CHANNEL}/{frame_name(split, timestamp)}"
                save_jpeg(view(scene, cx, cy, WINDOW, size), folder / img_a)
            dx, dy, scale = MOVES[MOTIONS[label]]
            img_b = f"sweeps/{CHANNEL}/{frame_name(split, timestamp + 83_000 * (i % PAIRS_PER_KEYFRAME + 1))}"
            save_jpeg(view(scene, cx + dx, cy + dy, WINDOW * scale, size), folder / img_b)
            entries.append({"img_a": img_a, "img_b": img_b, "label": MOTIONS[label]})
        (folder / f"nuScenes_{split}.json").write_text(json.dumps(entries, indent=1))
    return folder
