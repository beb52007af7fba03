"""Tiny EgoHands dataset in the layout of egohands_data.zip: `_LABELLED_SAMPLES/<VIDEO>/frame_<NNNN>.jpg` and one
`polygons.mat` per video (MATLAB v5, a 1xN struct array `polygons` with fields myleft, myright, yourleft,
yourright, each an (N, 2) array of 1-based (x, y) vertices, 0x0 when the hand is absent).

Each frame shows some of the four hands as quadrilaterals, each hand in its own colour on a grey
table, so the classes are learnable from the pixels. Frame numbers are sparse and zero-padded, as
in the zip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.io import savemat

from tasks.readers.egohands import CLASSES, TEST_VIDEOS, VAL_VIDEOS

HANDS = CLASSES[1:]
TRAIN_VIDEOS = ("CARDS_COURTYARD_S_H", "PUZZLE_OFFICE_B_S")
"""Videos in neither the test nor the validation mask."""
VIDEOS = TRAIN_VIDEOS + TEST_VIDEOS + VAL_VIDEOS[:1]
FRAME_NUMBERS = (11, 132)
"""frame_<NNNN> numbers written in each video (the zip's 100 are sparse too)."""
COUNTS = {"train": len(TRAIN_VIDEOS) * len(FRAME_NUMBERS), "test": len(TEST_VIDEOS) * len(FRAME_NUMBERS)}
COLOURS = {"yourleft": (200, 60, 60), "yourright": (60, 200, 60), "myleft": (60, 60, 200), "myright": (220, 200, 40)}


def polygon_struct(frames: list[dict[str, np.ndarray]]) -> np.ndarray:
    """A 1xN MATLAB struct array with the four hand fields, as scipy.io.savemat writes one."""
    polygons = np.empty(
        (1, len(frames)), dtype=[(hand, object) for hand in ("myleft", "myright", "yourleft", "yourright")]
    )
    for element, hands in enumerate(frames):
        for hand in polygons.dtype.names:
            polygons[0, element][hand] = hands.get(hand, np.zeros((0, 0)))
    return polygons


def write_polygons(path: Path, frames: list[dict[str, np.ndarray]]) -> None:
    """Write `frames` (per frame, hand name -> (N, 2) 1-based x, y vertices) as a polygons.mat."""
    savemat(path, {"polygons": polygon_struct(frames)})


def write_egohands(
    root: Path, height: int = 24, width: int = 32, seed: int = 0, hand_size: tuple[int, int] = (8, 6)
) -> Path:
    """`root/egohands` with FRAME_NUMBERS frames in each of VIDEOS, each with two `hand_size`
    (width, height) rectangles; returns the data folder."""
    folder = root / "egohands"
    rng = np.random.default_rng(seed)
    for video in VIDEOS:
        (folder / "_LABELLED_SAMPLES" / video).mkdir(parents=True, exist_ok=True)
        frames = []
        for number in FRAME_NUMBERS:
            image = Image.new("RGB", (width, height), (128, 128, 128))
            draw = ImageDraw.Draw(image)
            hands = {}
            for hand in rng.choice(HANDS, size=2, replace=False):
                (w, h) = hand_size
                x, y = int(rng.integers(2, width - w - 2)), int(rng.integers(2, height - h - 2))
                vertices = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)
                hands[str(hand)] = vertices
                draw.polygon([(vx - 1, vy - 1) for vx, vy in vertices], fill=COLOURS[str(hand)])
            image.save(folder / "_LABELLED_SAMPLES" / video / f"frame_{number:04d}.jpg", quality=95)
            frames.append(hands)
        write_polygons(folder / "_LABELLED_SAMPLES" / video / "polygons.mat", frames)
    return folder
