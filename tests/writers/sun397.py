"""SUN397 in its official layout: ClassName.txt, letter/class folders of sun_*.jpg, optional Partitions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tasks.synthetic import N_CLASSES, draw_shape_image
from tests.writers.images import save_jpeg

CLASS_LINES = ("/a/abbey", "/a/apartment_building/outdoor", "/b/beach", "/c/canyon", "/c/church/outdoor")
"""A few real ClassName.txt lines, nested names included."""


def random_name(rng: np.random.Generator) -> str:
    """An official-looking image name, `sun_` and 16 random lowercase letters."""
    return "sun_" + "".join(chr(ord("a") + int(i)) for i in rng.integers(0, 26, 16)) + ".jpg"


def write_sun397(
    root: Path,
    class_lines: Sequence[str] = CLASS_LINES,
    per_class: int = 10,
    size: int = 32,
    seed: int = 0,
    partitions: bool = False,
) -> Path:
    """Write `root/SUN397/` as SUN397.tar.gz extracts and return that folder.

    Class c (line c of ClassName.txt) is drawn as shape class c of `draw_shape_image` (a disc of
    one colour and fill), so a linear head can learn it; `per_class` images per class. With
    `partitions`, also `SUN397/Partitions/Training_01.txt` / `Testing_01.txt`: per class the first
    half of the images (in name order) for training, the rest for testing, lines `/a/abbey/sun_x.jpg`.
    """
    if len(class_lines) > N_CLASSES:
        raise ValueError(f"at most {N_CLASSES} classes have distinct drawings")
    folder = Path(root) / "SUN397"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ClassName.txt").write_text("".join(line + "\n" for line in class_lines))
    rng = np.random.default_rng(seed)
    listed: dict[str, list[str]] = {"Training": [], "Testing": []}
    for label, line in enumerate(class_lines):
        class_folder = folder / line.lstrip("/")
        class_folder.mkdir(parents=True, exist_ok=True)
        names = sorted({random_name(rng) for _ in range(per_class)})
        for name in names:
            save_jpeg(draw_shape_image(rng, label, size), class_folder / name)
        half = len(names) // 2
        listed["Training"] += [f"{line}/{name}" for name in names[:half]]
        listed["Testing"] += [f"{line}/{name}" for name in names[half:]]
    if partitions:
        (folder / "Partitions").mkdir(exist_ok=True)
        for kind, lines in listed.items():
            (folder / "Partitions" / f"{kind}_01.txt").write_text("".join(line + "\n" for line in lines))
    return folder
