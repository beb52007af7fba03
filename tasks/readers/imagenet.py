"""ImageNet ILSVRC2012 (the official train/val tars and devkit, extracted) and ImageNetV2.

Every label is found by wnid, through the packaged ILSVRC2012 table (tasks.readers.ilsvrc2012),
never by position: a train set of fewer classes (a subset, a fixture) still labels val and
ImageNetV2 correctly, and an image whose class the head never saw is refused rather than scored.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListReader, image_files, labels_by_name, subfolders
from tasks.readers.ilsvrc2012 import BY_ID, BY_WNID, CLASSES, WNIDS

DEVKIT = "ILSVRC2012_devkit_t12"
META = "data/meta.mat"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
SYNSET_FIELDS = ("ILSVRC2012_ID", "WNID", "num_children")
V2_FOLDER = re.compile(r"[0-9]+")


def synset_rows(synsets: object) -> list[np.void | np.ndarray]:
    """The records of `synsets`, whether saved as a struct array (the devkit's) or a cell array of structs."""
    if not isinstance(synsets, np.ndarray):
        return []
    if synsets.dtype.names:
        return list(synsets.ravel())
    if synsets.dtype == object:
        return [row for cell in synsets.ravel() if isinstance(cell, np.ndarray) for row in synset_rows(cell)]
    return []


def check_meta(data: bytes, source: str) -> None:
    """Refuse a devkit `meta.mat` whose leaf synsets (num_children == 0) do not number the 1000 classes
    as ILSVRC2012 does: its ground truth would then name other classes than the table maps it to.

    Leaves are selected by num_children, not wordnet_height (350 leaves have a height above 0)."""
    from scipy.io import loadmat  # only the flat val layout needs scipy
    from scipy.io.matlab import MatReadError

    try:
        synsets = loadmat(io.BytesIO(data), squeeze_me=True).get("synsets")
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as error:
        raise DataCorrupt(f"{source}: not a MATLAB v5 meta.mat ({error}); re-extract {DEVKIT}.tar.gz") from None
    rows = synset_rows(synsets)
    if not rows or any(name not in (row.dtype.names or ()) for row in rows for name in SYNSET_FIELDS):
        raise DataCorrupt(
            f"{source}: no 'synsets' struct array with fields {', '.join(SYNSET_FIELDS)}; re-extract {DEVKIT}.tar.gz"
        )
    leaves: dict[int, str] = {}
    for row in rows:
        if int(row["num_children"]) == 0:
            synset_id, wnid = int(row["ILSVRC2012_ID"]), str(row["WNID"])
            if synset_id in leaves:
                raise DataCorrupt(f"{source}: leaf ILSVRC2012_ID {synset_id} listed twice; re-extract {DEVKIT}.tar.gz")
            leaves[synset_id] = wnid
    expected = {entry.ilsvrc2012_id: entry.wnid for entry in CLASSES}
    if leaves != expected:
        synset_id = min(set(leaves.items()) ^ set(expected.items()))[0]
        official = f"{BY_ID[synset_id].wnid} ({BY_ID[synset_id].name})" if synset_id in BY_ID else "no class"
        raise DataCorrupt(
            f"{source}: leaf ILSVRC2012_ID {synset_id} is {leaves.get(synset_id, 'missing')}, where "
            f"ILSVRC2012 has {official}; not the ILSVRC2012 devkit, re-download {DEVKIT}.tar.gz"
        )


def parse_ground_truth(text: str, source: str) -> list[str]:
    """The WNID of each val image, in val-file order, from the ILSVRC2012_IDs one per line."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    wnids = []
    for number, line in enumerate(lines, start=1):
        try:
            synset_id = int(line)
        except ValueError:
            raise DataCorrupt(
                f"{source}: line {number}: expected one ILSVRC2012_ID, got {line!r}; re-extract {DEVKIT}.tar.gz"
            ) from None
        if synset_id not in BY_ID:
            raise DataCorrupt(
                f"{source}: line {number}: ILSVRC2012_ID {synset_id} is not a class (1..{len(BY_ID)}); "
                f"re-extract {DEVKIT}.tar.gz"
            )
        wnids.append(BY_ID[synset_id].wnid)
    return wnids


class ImageNet(FileListReader):
    """ImageNet ILSVRC2012 classification, train and val (the paper tests on val).

    Tree under the task's data folder (`<data-root>/imagenet`)::

        imagenet/
            train/<wnid>/<wnid>_<num>.JPEG     the inner tars of ILSVRC2012_img_train.tar, extracted
            val/ILSVRC2012_val_00000001.JPEG   ILSVRC2012_img_val.tar extracted as shipped (flat) ...
                ...ILSVRC2012_val_00050000.JPEG
            val/<wnid>/ILSVRC2012_val_*.JPEG   ... or moved into wnid folders (torchvision, ViRB)
            ILSVRC2012_devkit_t12/data/meta.mat                                  needed for a flat val/
            ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt

    The devkit is looked for, in order, as `ILSVRC2012_devkit_t12/` inside this folder (the devkit
    tarball extracted next to train/ and val/), as `ILSVRC2012_devkit_t12/` beside this folder (all
    archives extracted into the data root), and as the unextracted `ILSVRC2012_devkit_t12.tar.gz`
    inside this folder (where torchvision keeps it).

    Classes are the sorted wnid folders of train/: all 1000, or a subset (ImageNet-100 style, a
    fixture). Each must be one of the 1000 ILSVRC2012 wnids; other files in them (inner .tar files)
    are ignored. Val images are labelled by wnid with train/'s classes (all 1000 in the standard
    order when train/ is absent): a flat val/ from the devkit, ground-truth line k being the
    ILSVRC2012_ID of `ILSVRC2012_val_<k:08d>.JPEG` (e.g. val image 1 is ID 490 = n01751748, class 65
    of the 1000); a foldered val/ from its folder names. The devkit's meta.mat must number the
    classes as the packaged ILSVRC2012 table does. A val image of a class train/ lacks is refused
    (UnseenClass, with the count), never scored as wrong: score a subset on a foldered val/ that
    holds only its classes.

    `image(i)` is (H, W, 3) uint8 RGB (CMYK and the PNG stored as .JPEG converted); `labels()` int64
    class indices into `classes`. Samples are in class then file-name order (train, foldered val) or
    in ground-truth order (flat val). Full dataset: 1,281,167 train, 50,000 val images.
    """

    SPLITS = ("train", "val")
    LISTING_FIRST = True
    LAYOUT = (
        "imagenet/train/<wnid>/*.JPEG and imagenet/val/ (ILSVRC2012_val_*.JPEG flat with "
        f"imagenet/{DEVKIT}/{META} and {GROUND_TRUTH}, or val/<wnid>/*.JPEG)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        folder = self.require(self.root / split)
        wnids = subfolders(folder)
        flat = [path for path in image_files(folder) if path.name.startswith("ILSVRC2012_val_")]
        if wnids and flat:
            raise DataCorrupt(
                f"{folder}: holds both wnid folders and flat ILSVRC2012_val_*.JPEG images; "
                "finish moving the images into wnid folders or re-extract ILSVRC2012_img_val.tar flat"
            )
        if split == "val" and not wnids:
            self._paths, image_wnids = self._index_flat_val(folder)
        else:
            self._paths, image_wnids = self._index_folders(folder, wnids)
        train = self.root / "train"
        if split == "train":
            self.classes = wnids
        else:  # val is labelled with the classes heads train on: train/'s, else all 1000
            self.classes = subfolders(train) if train.is_dir() else list(WNIDS)
        self._labels = labels_by_name(
            image_wnids,
            self.classes,
            self._paths,
            f"of {train}",
            f"extract those classes into {train}, or keep in {folder} only the trained classes (as <wnid> folders)",
        )

    def _index_folders(self, folder: Path, wnids: list[str]) -> tuple[list[Path], list[str]]:
        """One folder per wnid: the images, and each image's wnid."""
        if not wnids:
            raise DataCorrupt(f"{folder}: no wnid folders; expected {self.LAYOUT}")
        for wnid in wnids:
            if wnid not in BY_WNID:
                raise DataCorrupt(
                    f"{folder / wnid}: not a class folder (one of the 1000 ILSVRC2012 wnids); move it out of {folder}"
                )
        paths: list[Path] = []
        image_wnids: list[str] = []
        for wnid in wnids:
            files = image_files(folder / wnid)
            if not files:
                raise DataCorrupt(f"{folder / wnid}: no images; re-extract {wnid}.tar into it")
            paths += files
            image_wnids += [wnid] * len(files)
        return paths, image_wnids

    def _index_flat_val(self, folder: Path) -> tuple[list[Path], list[str]]:
        """The val tar as shipped: the images in file-number order, and their wnids from the devkit."""
        truth = self._read_devkit()
        present = set(os.listdir(folder))
        paths = [folder / f"ILSVRC2012_val_{number:08d}.JPEG" for number in range(1, len(truth) + 1)]
        for path in paths:
            if path.name not in present:
                raise DataNotFound(
                    f"{path}: missing; the ground truth lists {len(truth)} val images, "
                    "re-extract ILSVRC2012_img_val.tar into val/"
                )
        return paths, truth

    def _read_devkit(self) -> list[str]:
        """The ground-truth WNIDs, once meta.mat is checked against the ILSVRC2012 table."""
        meta, truth, (meta_source, truth_source) = self._devkit_files()
        check_meta(meta, meta_source)
        return parse_ground_truth(truth.decode("ascii", errors="replace"), truth_source)

    def _devkit_files(self) -> tuple[bytes, bytes, tuple[str, str]]:
        """meta.mat and ground-truth bytes, and their names for errors, from the first devkit location
        that exists: extracted inside the data folder, extracted beside it, or the tarball inside it."""
        for devkit in (self.root / DEVKIT, self.root.parent / DEVKIT):
            if devkit.is_dir():
                meta, truth = self.require_index(devkit / META), self.require_index(devkit / GROUND_TRUTH)
                return meta.read_bytes(), truth.read_bytes(), (str(meta), str(truth))
        archive = self.root / f"{DEVKIT}.tar.gz"
        if archive.is_file():
            self.require_index(archive)
            meta_bytes, truth_bytes = self._archive_members(archive)
            return meta_bytes, truth_bytes, (f"{archive}:{DEVKIT}/{META}", f"{archive}:{DEVKIT}/{GROUND_TRUTH}")
        raise DataNotFound(
            f"{self.root / DEVKIT / META}: missing; a flat val/ needs the devkit: extract "
            f"{DEVKIT}.tar.gz into {self.root} (or put the .tar.gz there); expected {self.LAYOUT}"
        )

    @staticmethod
    def _archive_members(archive: Path) -> tuple[bytes, bytes]:
        """meta.mat and the ground truth read straight from the devkit tarball."""
        contents = []
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in (META, GROUND_TRUTH):
                    try:
                        handle = tar.extractfile(f"{DEVKIT}/{member}")
                    except KeyError:
                        handle = None
                    if handle is None:
                        raise DataCorrupt(f"{archive}: has no {DEVKIT}/{member}; re-download the devkit")
                    contents.append(handle.read())
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataCorrupt(f"{archive}: not a readable tar.gz ({error}); re-download the devkit") from None
        return contents[0], contents[1]


class ImageNetV2(FileListReader):
    """ImageNetV2 (matched frequency by default), scored with the ImageNet head.

    Tree under the task's data folder (`<data-root>/imagenetv2-matched-frequency-format-val`, what
    imagenetv2-matched-frequency.tar.gz extracts to; the threshold0.7 and top-images variants have
    the same shape)::

        imagenetv2-matched-frequency-format-val/
            0/<hash>.jpeg ... 999/<hash>.jpeg      10 images per class

    Folder k, read as an integer (folder "10" is 10, not the third in string order), holds the k-th
    ILSVRC2012 class of the standard (sorted-wnid) order; folders must be named 0..999. `classes`
    are those 1000 wnids and `labels()` int64 0..999 index them; the harness maps them by wnid to the
    classes the ImageNet head was trained on, refusing images of classes it never saw. `image(i)` is
    (H, W, 3) uint8 RGB. Samples are in class then file-name order. One split, "test": 10,000 images.
    """

    SPLITS = ("test",)
    LAYOUT = "imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg (imagenetv2-matched-frequency.tar.gz, extracted)"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = list(WNIDS)
        last = len(WNIDS) - 1
        names = subfolders(self.require(self.root))
        if not names:
            raise DataCorrupt(f"{self.root}: no class folders 0..{last}; expected {self.LAYOUT}")
        for name in names:
            if not V2_FOLDER.fullmatch(name) or int(name) > last:
                raise DataCorrupt(f"{self.root / name}: not a class folder 0..{last}; move it out of {self.root}")
        self._paths, labels = [], []
        for name in sorted(names, key=int):
            files = image_files(self.root / name)
            if not files:
                raise DataCorrupt(f"{self.root / name}: no images; re-extract imagenetv2-matched-frequency.tar.gz")
            self._paths += files
            labels += [int(name)] * len(files)
        self._labels = np.asarray(labels, dtype=np.int64)
