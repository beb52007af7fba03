"""The 1000 ILSVRC2012 classes as packaged data, so no class map is ever guessed from positions.

`data/ilsvrc2012_classes.tsv` has one row per leaf synset of the devkit's meta.mat, in the standard
order (wnids sorted, as torchvision's ImageFolder and ImageNetV2's folder numbers count them), with
columns index, wnid, ILSVRC2012_ID (the devkit's id, which its val ground truth lists) and name
(meta.mat's `words`). Two orders meet here: val image 1 is ILSVRC2012_ID 490, n01751748 "sea
snake", which is index 65 of the standard order. The rows are the ILSVRC2012 devkit's meta.mat
leaves, cross-checked against the ILSVRC2015 devkit's map_clsloc.txt (same ids) and Kaggle's
LOC_synset_mapping.txt (same sorted order and names).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType


@dataclass(frozen=True)
class ImageNetClass:
    """One ILSVRC2012 class: its place in both orders, and its name."""

    index: int
    """Position in the standard order (sorted wnids): the ImageNetV2 folder number."""
    wnid: str
    ilsvrc2012_id: int
    """The devkit's id (1..1000, meta.mat order)."""
    name: str


def _load() -> tuple[ImageNetClass, ...]:
    lines = files("tasks.readers").joinpath("data/ilsvrc2012_classes.tsv").read_text(encoding="ascii").splitlines()
    rows = (line.split("\t") for line in lines[1:])
    return tuple(ImageNetClass(int(index), wnid, int(synset_id), name) for index, wnid, synset_id, name in rows)


CLASSES = _load()
"""The 1000 classes in the standard order."""
WNIDS = tuple(entry.wnid for entry in CLASSES)
BY_WNID = MappingProxyType({entry.wnid: entry for entry in CLASSES})
BY_ID = MappingProxyType({entry.ilsvrc2012_id: entry for entry in CLASSES})
