"""ImageNet ILSVRC2012 and ImageNetV2 fixtures in the official layouts, with real classes.

ImageNet: `train/<wnid>/<wnid>_<num>.JPEG` for a few real wnids (a subset of the 1000), the val tar's
flat `ILSVRC2012_val_<k:08d>.JPEG` (or wnid folders), and a devkit laid out as the real one: a
meta.mat listing all 1000 leaves in ILSVRC2012_ID order (the packaged table's ids and names), then
internal synsets, and a ground truth of the val images' real ILSVRC2012_IDs. ImageNetV2: folder
`<k>/<sha1>.jpeg` where k is the wnid's index in the standard (sorted) order of the 1000. Every image
of a wnid is `draw_shape_image(p % 10)`, p its position among the sorted fixture wnids (its label
with those train folders), in ImageNet and V2 alike, so a head trained on ImageNet scores V2.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.io import savemat

from tasks.readers.ilsvrc2012 import BY_ID, BY_WNID
from tasks.synthetic import N_CLASSES, draw_shape_image
from tests.writers.images import save_jpeg

FIXTURE_WNIDS = ("n02119789", "n01751748", "n04599235", "n01440764", "n03000134", "n02085620")
"""Real classes: kit fox (ILSVRC2012_ID 1), sea snake (490), wool (815), tench (449), chainlink fence
(721), Chihuahua (173); sorted, n01440764 is their class 0 (and class 0 of the 1000)."""

INTERNAL = (
    (1001, "n00001740", "entity", (1002, 1847)),
    (1227, "n02118333", "fox", (1, 62, 67, 159)),
    (1346, "n01726692", "snake, serpent, ophidian", (490, 1347, 1348, 1351, 1355)),
)
"""Three of the real meta.mat's 860 internal synsets (ILSVRC2012_ID, WNID, words, children), which
follow the leaves; n00001740 sorts before every leaf."""

DEVKIT = "ILSVRC2012_devkit_t12"
SYNSET_FIELDS = (
    "ILSVRC2012_ID",
    "WNID",
    "words",
    "gloss",
    "num_children",
    "children",
    "wordnet_height",
    "num_train_images",
)


def real_leaves() -> list[tuple[int, str]]:
    """The 1000 leaves as (ILSVRC2012_ID, WNID), in ID order: what the real meta.mat lists first."""
    return [(synset_id, BY_ID[synset_id].wnid) for synset_id in sorted(BY_ID)]


def write_meta_mat(path: Path, leaves: Sequence[tuple[int, str]] | None = None) -> None:
    """The devkit's meta.mat: a (N, 1) `synsets` struct array, the leaves (`real_leaves()` unless
    given) then INTERNAL. Some leaves get a wordnet_height above 0, as 350 real ones have."""
    leaves = real_leaves() if leaves is None else leaves
    rows = np.zeros((len(leaves) + len(INTERNAL), 1), dtype=[(name, object) for name in SYNSET_FIELDS])
    for i, (synset_id, wnid) in enumerate(leaves):
        rows[i, 0] = (
            float(synset_id),
            wnid,
            BY_WNID[wnid].name,
            "a leaf synset",
            0.0,
            np.zeros((1, 0)),
            float(i % 3),
            1300.0,
        )
    for j, (synset_id, wnid, words, children) in enumerate(INTERNAL):
        rows[len(leaves) + j, 0] = (
            float(synset_id),
            wnid,
            words,
            "an internal synset",
            float(len(children)),
            np.asarray(children, dtype=float).reshape(1, -1),
            5.0,
            0.0,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"synsets": rows})
    with open(path, "r+b") as handle:  # savemat stamps the time into the 116-byte text header: fix it,
        handle.write(b"MATLAB 5.0 MAT-file, ccbench test fixture".ljust(116))  # so equal fixtures are equal bytes


def write_devkit(
    folder: Path, truth: Sequence[int], form: str = "folder", leaves: Sequence[tuple[int, str]] | None = None
) -> None:
    """The devkit for val images whose ILSVRC2012_IDs are `truth`, in val-file order. `form`: "folder"
    (extracted inside the data folder `folder`), "beside" (extracted next to it) or "tarball"
    (`ILSVRC2012_devkit_t12.tar.gz` inside it); `leaves` as in `write_meta_mat`."""
    base = folder.parent if form == "beside" else folder
    devkit = base / DEVKIT
    write_meta_mat(devkit / "data" / "meta.mat", leaves)
    (devkit / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{i}\n" for i in truth))
    if form == "tarball":
        with tarfile.open(folder / f"{DEVKIT}.tar.gz", "w:gz") as tar:
            tar.add(devkit, arcname=DEVKIT)
        shutil.rmtree(devkit)


def shapes(wnids: Sequence[str]) -> dict[str, int]:
    """The drawn shape of each wnid: its position among the sorted `wnids`, modulo the shapes."""
    return {wnid: position % N_CLASSES for position, wnid in enumerate(sorted(wnids))}


def write_imagenet(
    root: Path,
    wnids: Sequence[str] = FIXTURE_WNIDS,
    n_train: int = 3,
    n_val: int = 2,
    val_layout: str = "flat",
    devkit: str | None = "folder",
    seed: int = 0,
    size: int = 24,
) -> Path:
    """`root/imagenet` with `n_train` train and `n_val` val images per class of `wnids` (real ILSVRC2012
    wnids; labels follow their sorted order). `val_layout` "flat" (as the val tar ships) or "folders"
    (val/<wnid>/); `devkit` as in `write_devkit`, or None. Returns the data folder."""
    folder = root / "imagenet"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = shapes(wnids)
    for wnid in wnids:
        for i in range(n_train):
            save_jpeg(
                draw_shape_image(rng, shape[wnid], size), folder / "train" / wnid / f"{wnid}_{10026 + 7 * i}.JPEG"
            )
    val_wnids = [wnids[position] for position in rng.permutation(np.repeat(np.arange(len(wnids)), n_val))]
    for number, wnid in enumerate(val_wnids, start=1):
        name = f"ILSVRC2012_val_{number:08d}.JPEG"
        path = folder / "val" / name if val_layout == "flat" else folder / "val" / wnid / name
        save_jpeg(draw_shape_image(rng, shape[wnid], size), path)
    if devkit is not None:
        write_devkit(folder, [BY_WNID[wnid].ilsvrc2012_id for wnid in val_wnids], devkit)
    return folder


V2_FOLDER = "imagenetv2-matched-frequency-format-val"


def write_imagenet_v2(
    root: Path, wnids: Sequence[str] = FIXTURE_WNIDS, per_class: int = 2, seed: int = 0, size: int = 24
) -> Path:
    """`root/imagenetv2-matched-frequency-format-val/<k>/<sha1>.jpeg` for each of `wnids`, k its index
    in the standard order of the 1000 (n01751748 is folder 65)."""
    folder = root / V2_FOLDER
    rng = np.random.default_rng(seed)
    shape = shapes(wnids)
    for wnid in wnids:
        k = BY_WNID[wnid].index
        for i in range(per_class):
            name = hashlib.sha1(f"{k}-{i}".encode()).hexdigest()
            save_jpeg(draw_shape_image(rng, shape[wnid], size), folder / str(k) / f"{name}.jpeg")
    return folder
