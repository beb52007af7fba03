"""ImageNet ILSVRC2012 and ImageNetV2 fixtures in the official layouts.

ImageNet: `train/<wnid>/<wnid>_<num>.JPEG`, the val tar's flat `ILSVRC2012_val_<k:08d>.JPEG` (or wnid
folders) and a hand-built devkit whose meta.mat lists the leaves in a non-sorted ILSVRC2012_ID order
followed by internal synsets, as the real one does. ImageNetV2: integer folders `0..n-1/<hash>.jpeg`.
Every image of class c (sorted-wnid index, or V2 folder number) is `draw_shape_image(c % 10)`, so a
linear head can learn the classes.
"""
from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.io import savemat

from tasks.synthetic import N_CLASSES, draw_shape_image
from tests.writers.images import save_jpeg

FIXTURE_WNIDS = ("n02119789", "n01751748", "n04599235", "n01440764", "n03000134", "n02085620")
"""Leaves in ILSVRC2012_ID order (IDs 1..6); sorted order differs: n01440764 is class 0."""

INTERNAL_WNIDS = ("n00001740", "n01861778", "n03183080")
"""Internal synsets (num_children > 0) after the leaves; n00001740 sorts before every leaf."""

DEVKIT = "ILSVRC2012_devkit_t12"
SYNSET_FIELDS = ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
                 "num_train_images")


def write_meta_mat(path: Path, leaves: Sequence[str], internal: Sequence[str] = INTERNAL_WNIDS) -> None:
    """The devkit's meta.mat: a (N, 1) `synsets` struct array, leaves first with ILSVRC2012_IDs 1..len(leaves)
    in the given order, then the internal synsets, each the parent of some leaves."""
    rows = np.zeros((len(leaves) + len(internal), 1), dtype=[(name, object) for name in SYNSET_FIELDS])
    for i, wnid in enumerate(leaves):
        rows[i, 0] = (float(i + 1), wnid, f"leaf {wnid}", "a leaf synset", 0.0, np.zeros((1, 0)), float(i % 3),
                      1300.0)
    for j, wnid in enumerate(internal):
        children = np.arange(j + 1, len(leaves) + 1, max(len(internal), 1), dtype=float).reshape(1, -1)
        rows[len(leaves) + j, 0] = (float(len(leaves) + j + 1), wnid, f"internal {wnid}", "an internal synset",
                                    float(children.size), children, 5.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"synsets": rows})
    with open(path, "r+b") as handle:  # savemat stamps the time into the 116-byte text header: fix it,
        handle.write(b"MATLAB 5.0 MAT-file, ccbench test fixture".ljust(116))  # so equal fixtures are equal bytes


def write_devkit(folder: Path, leaves: Sequence[str], truth: Sequence[int], form: str = "folder",
                 internal: Sequence[str] = INTERNAL_WNIDS) -> None:
    """The devkit for val images whose ILSVRC2012_IDs are `truth`, in val-file order. `form`: "folder"
    (extracted inside the data folder `folder`), "beside" (extracted next to it) or "tarball"
    (`ILSVRC2012_devkit_t12.tar.gz` inside it)."""
    base = folder.parent if form == "beside" else folder
    devkit = base / DEVKIT
    write_meta_mat(devkit / "data" / "meta.mat", leaves, internal)
    (devkit / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{i}\n" for i in truth))
    if form == "tarball":
        with tarfile.open(folder / f"{DEVKIT}.tar.gz", "w:gz") as tar:
            tar.add(devkit, arcname=DEVKIT)
        shutil.rmtree(devkit)


def write_imagenet(root: Path, wnids: Sequence[str] = FIXTURE_WNIDS, n_train: int = 3, n_val: int = 2,
                   val_layout: str = "flat", devkit: str | None = "folder", seed: int = 0, size: int = 24) -> Path:
    """`root/imagenet` with `n_train` train and `n_val` val images per class. `wnids` are the leaves in
    ILSVRC2012_ID order; labels follow their sorted order. `val_layout` "flat" (as the val tar ships)
    or "folders" (val/<wnid>/); `devkit` as in `write_devkit`, or None. Returns the data folder."""
    folder = root / "imagenet"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    label = {wnid: index for index, wnid in enumerate(sorted(wnids))}
    for wnid in wnids:
        for i in range(n_train):
            save_jpeg(draw_shape_image(rng, label[wnid] % N_CLASSES, size),
                      folder / "train" / wnid / f"{wnid}_{10026 + 7 * i}.JPEG")
    val_classes = rng.permutation(np.repeat(np.arange(len(wnids)), n_val))
    for number, position in enumerate(val_classes, start=1):
        wnid = wnids[position]
        name = f"ILSVRC2012_val_{number:08d}.JPEG"
        path = folder / "val" / name if val_layout == "flat" else folder / "val" / wnid / name
        save_jpeg(draw_shape_image(rng, label[wnid] % N_CLASSES, size), path)
    if devkit is not None:
        write_devkit(folder, wnids, [int(position) + 1 for position in val_classes], devkit)
    return folder


V2_FOLDER = "imagenetv2-matched-frequency-format-val"


def write_imagenet_v2(root: Path, n_classes: int = 12, per_class: int = 2, seed: int = 0, size: int = 24) -> Path:
    """`root/imagenetv2-matched-frequency-format-val/<k>/<sha1>.jpeg` for k in 0..n_classes-1."""
    folder = root / V2_FOLDER
    rng = np.random.default_rng(seed)
    for k in range(n_classes):
        for i in range(per_class):
            name = hashlib.sha1(f"{k}-{i}".encode()).hexdigest()
            save_jpeg(draw_shape_image(rng, k % N_CLASSES, size), folder / str(k) / f"{name}.jpeg")
    return folder
