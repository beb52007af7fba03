"""Tiny THOR Num. Steps and THOR Egomotion datasets in the layouts of ViRB's zips, with learnable labels.

Num. steps: a yellow disc that looks smaller the more steps the agent is from it, so the yellow
area falls with the label.
Egomotion: both frames are windows on one synthetic scene (red grows to the right, green grows
downwards, a white disc in the middle); frame b's window is frame a's zoomed in (MoveAhead) or
shifted left, right, up or down (RotateLeft, RotateRight, LookUp, LookDown), so the change in mean
colour and disc size between the two frames gives the action.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tasks.readers.thor import ACTIONS, NUM_STEPS_CLASSES
from tests.writers.images import save_jpeg

CANVAS = 128
"""Side of the synthetic scene frames are cut from."""
WINDOW = 64
"""Side of the base view window on the scene."""
SHIFT = 16
"""How far a rotation or look moves the window, in scene pixels."""
ZOOM = 1.4
"""How much moving ahead magnifies the view."""
MOVES = {
    "MoveAhead": (0, 0, 1 / ZOOM),
    "RotateLeft": (-SHIFT, 0, 1.0),
    "RotateRight": (SHIFT, 0, 1.0),
    "LookUp": (0, -SHIFT, 1.0),
    "LookDown": (0, SHIFT, 1.0),
}
"""Action -> (window dx, window dy, window scale) from frame a to frame b."""
DISC_COLOUR = np.array([235, 210, 40], np.float32)
SCENE_SIZE = 8
"""Images per `<dir>` folder, as THOR groups views by scene."""


def balanced_labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """`n` labels cycling through every class, shuffled."""
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    return labels


def draw_steps_image(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
    """A yellow disc near the centre on a grey background, smaller the more steps away it is:
    radius (0.42 - 0.075 * steps) * size, within 5%."""
    image = rng.normal(100.0, 8.0, size=(size, size, 3))
    radius = size * (0.42 - 0.075 * steps) * rng.uniform(0.95, 1.05)
    cy, cx = size / 2 + rng.uniform(-0.08, 0.08, size=2) * size
    yy, xx = np.mgrid[0:size, 0:size]
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    image[mask] = DISC_COLOUR + rng.normal(0.0, 10.0, size=(int(mask.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_thor_num_steps(root: str | Path, n_train: int = 40, n_val: int = 20, size: int = 32, seed: int = 0) -> Path:
    """Write `root/thor_num_steps/{train,val}/FloorPlan<k>/<id>_rgb.jpg` and `{train,val}_labels.txt`
    (lines "<split>/FloorPlan<k>/<id> <steps>", labels balanced over 0..4); return the folder."""
    folder = Path(root) / "thor_num_steps"
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        lines = []
        for i, steps in enumerate(balanced_labels(rng, n, len(NUM_STEPS_CLASSES))):
            key = f"{split}/FloorPlan{i // SCENE_SIZE + 1}/{i:06d}"
            save_jpeg(draw_steps_image(rng, int(steps), size), folder / f"{key}_rgb.jpg")
            lines.append(f"{key} {steps}\n")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}_labels.txt").write_text("".join(lines))
    return folder


def draw_scene(rng: np.random.Generator) -> np.ndarray:
    """A (CANVAS, CANVAS, 3) float scene: red ramps left to right, green top to bottom, blue is noise
    blobs, and a white disc sits in the centre."""
    ramp = np.linspace(20.0, 235.0, CANVAS)
    scene = np.empty((CANVAS, CANVAS, 3), np.float32)
    scene[..., 0] = ramp[None, :]
    scene[..., 1] = ramp[:, None]
    blobs = rng.uniform(0.0, 255.0, size=(CANVAS // 8, CANVAS // 8))
    scene[..., 2] = np.kron(blobs, np.ones((8, 8)))
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS]
    centre = CANVAS / 2
    scene[(yy - centre) ** 2 + (xx - centre) ** 2 <= (WINDOW / 5) ** 2] = 250.0
    return scene + rng.normal(0.0, 6.0, size=scene.shape)


def view(scene: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """The square window of `side` scene pixels centred on (cx, cy), resampled to (size, size) uint8."""
    image = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box))


def egomotion_pair(
    rng: np.random.Generator, move: tuple[float, float, float], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frames a and b of one scene, b's window moved by `move` from a's (slightly jittered) one."""
    scene = draw_scene(rng)
    cx, cy = CANVAS / 2 + rng.uniform(-3, 3, size=2)
    dx, dy, scale = move
    return view(scene, cx, cy, WINDOW, size), view(scene, cx + dx, cy + dy, WINDOW * scale, size)


def ramp_means(image: np.ndarray) -> tuple[float, float]:
    """Mean red and green of a frame's scene ramps, leaving out the white disc: what a window move
    shifts (a zoom about the same centre leaves both unchanged)."""
    pixels = image.reshape(-1, 3).astype(float)
    ramps = pixels[pixels.min(axis=1) <= 200]
    return float(ramps[:, 0].mean()), float(ramps[:, 1].mean())


def white_fraction(image: np.ndarray) -> float:
    """Share of a frame covered by the white centre disc, which grows when the view zooms in."""
    return float((image.min(axis=2) > 200).mean())


def write_thor_egomotion(root: str | Path, n_train: int = 40, n_val: int = 20, size: int = 32, seed: int = 0) -> Path:
    """Write `root/thor_action_prediction/{train,val}_labels.txt` (lines "<prefix> <Action>", actions
    balanced) and the frames `<prefix>_rgb_a.jpg`, `<prefix>_rgb_b.jpg` with prefix
    "<split>/FloorPlan<k>/<id>"; return the folder."""
    folder = Path(root) / "thor_action_prediction"
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        lines = []
        for i, label in enumerate(balanced_labels(rng, n, len(ACTIONS))):
            action = ACTIONS[label]
            prefix = f"{split}/FloorPlan{i // SCENE_SIZE + 1}/{i:06d}"
            frame_a, frame_b = egomotion_pair(rng, MOVES[action], size)
            save_jpeg(frame_a, folder / f"{prefix}_rgb_a.jpg")
            save_jpeg(frame_b, folder / f"{prefix}_rgb_b.jpg")
            lines.append(f"{prefix} {action}\n")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}_labels.txt").write_text("".join(lines))
    return folder
