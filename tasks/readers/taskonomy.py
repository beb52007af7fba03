"""Taskonomy depth (z-buffer) prediction, read as the data downloads (per-building tars, the Omnidata
downloader's tree) or as the original code arranged it, and split by building."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import DenseReader, FileListReader, image_files, load_map, seeded_split, subfolders

DEPTH_UNITS_PER_METRE = 512.0
"""depth_zbuffer PNGs store z in 1/512 m (taskonomy data README), so the 16 bits reach 128 m."""

NO_DEPTH = 65535
"""The value Taskonomy writes where the mesh has no geometry (omnidata's mask_valid is depth != 65535)."""

RGB, DEPTH = "rgb", "depth_zbuffer"
RGB_SUFFIX, DEPTH_SUFFIX = f"_domain_{RGB}.png", f"_domain_{DEPTH}.png"

TREES = {
    "original": "{split}/{domain}/{building}",
    "omnidata": "{domain}/taskonomy/{building}",
    "tars": "{building}/{domain}",
}
"""Each layout's folder of one building's views of one domain, relative to the data folder."""

SPLITS_FOLDER = "splits_taskonomy"
SPLIT_SIZES = ("fullplus", "full", "medium", "tiny")
"""The official split files `train_val_test_<size>.csv`, in the order they are looked for: each list
holds the smaller ones with the same flags, so the first present names the most buildings."""
SPLIT_HEADER = ["id", "train", "val", "test"]

SPLIT_SEED = 537
"""Seed of the building split drawn when there is no split file (537: Taskonomy's building count)."""

LAYOUT = (
    "taskonomy/<building>/{rgb,depth_zbuffer}/point_<P>_view_<V>_domain_{rgb,depth_zbuffer}.png "
    "(per-building tars extracted in their building's folder), taskonomy/{rgb,depth_zbuffer}/taskonomy/"
    "<building>/... (omnitools.download --dest <data-root>/taskonomy) or taskonomy/{train,test}/"
    "{rgb,depth_zbuffer}/<building>/... (the original code's), with optional "
    f"taskonomy/{SPLITS_FOLDER}/train_val_test_<size>.csv (splits_taskonomy.zip, extracted)"
)


class TaskonomyDepth(DenseReader, FileListReader):
    """Taskonomy depth prediction: the z-buffer depth of each RGB view, in metres.

    Tree under the task's data folder (`<data-root>/taskonomy`, the original code's name), in one of
    three layouts, looked for in this order (the first found is read)::

        taskonomy/                the original code's split folders
            {train,test}/rgb/<building>/point_<P>_view_<V>_domain_rgb.png                       8-bit RGB, 512x512
            {train,test}/depth_zbuffer/<building>/point_<P>_view_<V>_domain_depth_zbuffer.png   16-bit z, 1/512 m

        taskonomy/                omnitools.download rgb depth_zbuffer --components taskonomy --dest <this folder>
            rgb/taskonomy/<building>/point_<P>_view_<V>_domain_rgb.png
            depth_zbuffer/taskonomy/<building>/point_<P>_view_<V>_domain_depth_zbuffer.png
            splits_taskonomy/train_val_test_<size>.csv       optional: splits_taskonomy.zip, extracted here

        taskonomy/                the tars <building>_rgb.tar and <building>_depth_zbuffer.tar, each holding
                                  <domain>/ and extracted in its building's folder
            <building>/rgb/point_<P>_view_<V>_domain_rgb.png
            <building>/depth_zbuffer/point_<P>_view_<V>_domain_depth_zbuffer.png
            splits_taskonomy/train_val_test_<size>.csv       optional, as above

    A building is a folder with an `rgb` folder (Omnidata has no rgb for a few buildings, whose depth
    alone is not read). The split is by building:

    - original layout: the split's folder holds its buildings (the original code's came from its
      taskonomy_scenes.txt);
    - with a split file (header `id,train,val,test`, then per building one row with a single flag
      1, lines ending in CR as the official files do): train is its train rows, test its test
      rows, of the buildings found. The first present of sizes fullplus, full, medium, tiny is
      read: each official list holds the smaller ones with the same flags, so the largest names
      the most buildings and none differently. Buildings it lists but the folder lacks are skipped
      (partial downloads are the rule), buildings it does not list are not read, and neither are
      its val rows: the protocol selects on a draw from train, so train stays the official train
      list. A split left without a building fails, naming the file;
    - otherwise the buildings found, sorted, are split 4/5 train, 1/5 test by
      `seeded_split([count], SPLIT_SEED)` with SPLIT_SEED = 537, which needs two buildings or more.
      Adding or removing a building redraws the split; a split file keeps it fixed.

    Samples are the RGB views of the split's buildings, buildings and files in sorted order; each
    pairs with the depth file of the same `point_<P>_view_<V>` prefix, and a missing partner fails
    by name. `buildings` and `split_details()` say which buildings were read and what chose them;
    image ids are paths relative to this folder, so the buildings enter the manifest digest, as does
    the split file read (its sha256, in the content digest).

    `target(i)` is float32 (H, W) metres = value / 512, NaN where the value is 65535 (no geometry).
    It stays metric: the original code's clip at 10000 and per-image max/min normalisation made
    its errors relative per image, which the protocol's metres replace.
    """

    SPLITS = ("train", "test")
    TARGET = "depth"
    LAYOUT = LAYOUT

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [self.TARGET]
        self.require(self.root)
        if (self.root / "train").is_dir() or (self.root / "test").is_dir():
            self.layout = "original"
            self.buildings = subfolders(self.require(self.root / split / RGB))
            self.chosen_by = f"the {split}/ folder"
        else:
            if (self.root / RGB).is_dir():
                self.layout = "omnidata"
                found = subfolders(self.require(self.root / RGB / "taskonomy"))
            else:
                self.layout = "tars"
                found = [name for name in subfolders(self.root) if (self.root / name / RGB).is_dir()]
            if not found:
                raise DataNotFound(f"{self.root}: no building folders with rgb views; expected {LAYOUT}")
            self.buildings, self.chosen_by = self._split_buildings(found)
        self._paths, self._target_paths = [], []
        for building in self.buildings:
            self._pair(self._folder(RGB, building), self.require(self._folder(DEPTH, building)))
        if not self._paths:
            raise DataNotFound(
                f"{self.root}: no *{RGB_SUFFIX} views in the {len(self.buildings)} {split} "
                f"building(s); expected {LAYOUT}"
            )

    def _folder(self, domain: str, building: str) -> Path:
        return self.root / TREES[self.layout].format(split=self.split, domain=domain, building=building)

    def _split_buildings(self, found: list[str]) -> tuple[list[str], str]:
        """This split's buildings among those found, and what chose them: the official split file
        when there is one, else the seeded draw."""
        for size in SPLIT_SIZES:
            path = self.root / SPLITS_FOLDER / f"train_val_test_{size}.csv"
            if path.is_file():
                listed = read_split_file(self.require_index(path))[self.split]
                chosen = [building for building in found if building in listed]
                if not chosen:
                    raise DataNotFound(
                        f"{path}: none of its {len(listed)} {self.split} buildings is in {self.root}; "
                        f"download one of them, or remove {SPLITS_FOLDER}/ to split the buildings "
                        "found by seed"
                    )
                return chosen, path.relative_to(self.root).as_posix()
        if len(found) < 2:
            raise DataNotFound(
                f"{self.root}: one building ({found[0]}), but a split needs one per side; download "
                f"another, or add {SPLITS_FOLDER}/ (splits_taskonomy.zip, extracted)"
            )
        in_train = seeded_split([len(found)], SPLIT_SEED)[0]
        chosen = [building for building, train in zip(found, in_train) if train == (self.split == "train")]
        return chosen, f"seed {SPLIT_SEED} over the {len(found)} buildings found"

    def _pair(self, images: Path, depths: Path) -> None:
        """Add a building's views, each with the depth file of its prefix."""
        present = set(os.listdir(depths))
        for path in image_files(self.require(images), (RGB_SUFFIX,)):
            target = depths / (path.name[: -len(RGB_SUFFIX)] + DEPTH_SUFFIX)
            if target.name not in present:
                raise DataNotFound(
                    f"{target}: missing, though {path} exists; extract or download the building's depth_zbuffer"
                )
            self._paths.append(path)
            self._target_paths.append(target)

    def split_details(self) -> dict[str, Any]:
        return {"layout": self.layout, "buildings": list(self.buildings), "chosen_by": self.chosen_by}

    def target(self, index: int) -> np.ndarray:
        path = self._target_paths[index]
        raw = load_map(path)
        if raw.dtype.kind not in "ui" or raw.dtype.itemsize < 2:
            raise DataCorrupt(
                f"{path}: {raw.dtype} values, expected a 16-bit depth PNG; re-extract the building's depth_zbuffer tar"
            )
        depth = raw.astype(np.float32) / DEPTH_UNITS_PER_METRE
        depth[raw == NO_DEPTH] = np.nan
        return depth


def read_split_file(path: Path) -> dict[str, set[str]]:
    """The buildings of each split (train, val, test) in an official split file; any other content
    is refused by line, and so is a building name that is not one plain folder name (it could reach
    outside the data folder)."""
    fix = "re-extract splits_taskonomy.zip"
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (UnicodeDecodeError, OSError) as error:
        raise DataCorrupt(f"{path}: cannot read it as text ({error}); {fix}") from None
    rows = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows or [cell.strip() for cell in rows[0][1].split(",")] != SPLIT_HEADER:
        raise DataCorrupt(f"{path}: the first line is not the header {','.join(SPLIT_HEADER)}; {fix}")
    members: dict[str, set[str]] = {split: set() for split in SPLIT_HEADER[1:]}
    seen: set[str] = set()
    for number, line in rows[1:]:
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(SPLIT_HEADER) or sorted(cells[1:]) != ["0", "0", "1"]:
            raise DataCorrupt(
                f"{path}: line {number}: {line!r} is not <building>,<train>,<val>,<test> with one "
                f"flag 1 and two 0; {fix}"
            )
        building = cells[0]
        if building in ("", ".", "..") or Path(building).name != building:
            raise DataCorrupt(
                f"{path}: line {number}: building {building!r} is not a folder name inside the data folder; {fix}"
            )
        if building in seen:
            raise DataCorrupt(f"{path}: line {number}: building {building!r} is listed twice; {fix}")
        seen.add(building)
        members[SPLIT_HEADER[1 + cells[1:].index("1")]].add(building)
    return members
