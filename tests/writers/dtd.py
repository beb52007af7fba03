"""DTD fixtures in the official layout: `dtd/images/<class>/<class>_<NNNN>.jpg` and the ten partitions
`dtd/labels/{train,val,test}{1..10}.txt` (each a third of every class, lines "<class>/<file>.jpg"),
plus `labels_joint_anno.txt`.

Every image of the class with sorted index c is `draw_shape_image(c % 10)`, so the classes are learnable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tasks.synthetic import N_CLASSES, draw_shape_image
from tests.writers.images import save_jpeg

DTD_CLASSES = (
    "banded",
    "blotchy",
    "braided",
    "bubbly",
    "bumpy",
    "chequered",
    "cobwebbed",
    "cracked",
    "crosshatched",
    "crystalline",
    "dotted",
    "fibrous",
    "flecked",
    "freckled",
    "frilly",
    "gauzy",
    "grid",
    "grooved",
    "honeycombed",
    "interlaced",
    "knitted",
    "lacelike",
    "lined",
    "marbled",
    "matted",
    "meshed",
    "paisley",
    "perforated",
    "pitted",
    "pleated",
    "polka-dotted",
    "porous",
    "potholed",
    "scaly",
    "smeared",
    "spiralled",
    "sprinkled",
    "stained",
    "stratified",
    "striped",
    "studded",
    "swirly",
    "veined",
    "waffled",
    "woven",
    "wrinkled",
    "zigzagged",
)
"""The 47 classes, sorted."""


def write_dtd(
    root: Path, classes: Sequence[str] = DTD_CLASSES[:3], per_class: int = 6, seed: int = 0, size: int = 24
) -> Path:
    """`root/dtd` with `per_class` images per class (a multiple of 3: each partition puts a third of a
    class in train, val and test). Returns the data folder."""
    if per_class % 3:
        raise ValueError(f"per_class must be a multiple of 3, got {per_class}")
    folder = root / "dtd"
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    label = {name: index for index, name in enumerate(sorted(classes))}
    entries = {}
    for name in classes:
        (folder / "images" / name).mkdir(parents=True, exist_ok=True)
        entries[name] = [f"{name}/{name}_{2 * number + 2:04d}.jpg" for number in range(per_class)]
        for entry in entries[name]:
            save_jpeg(draw_shape_image(rng, label[name] % N_CLASSES, size), folder / "images" / entry)
    third = per_class // 3
    for partition in range(1, 11):
        lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        for name in sorted(classes):
            order = rng.permutation(per_class)
            for part, chosen in enumerate(lists.values()):
                chosen += sorted(entries[name][i] for i in order[part * third : (part + 1) * third])
        for split, chosen in lists.items():
            (folder / "labels" / f"{split}{partition}.txt").write_text("".join(f"{entry}\n" for entry in chosen))
    joint = "".join(f"{entry} {name} \n" for name in sorted(classes) for entry in entries[name])
    (folder / "labels" / "labels_joint_anno.txt").write_text(joint)
    return folder
