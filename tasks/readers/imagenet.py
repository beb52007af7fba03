"""ImageNet ILSVRC2012 (the official train/val tars and devkit, extracted) and ImageNetV2."""
from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import FileListReader, image_files, subfolders

WNID = re.compile(r"n\d{8}")
DEVKIT = "ILSVRC2012_devkit_t12"
META = "data/meta.mat"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
SYNSET_FIELDS = ("ILSVRC2012_ID", "WNID", "num_children")
V2_CLASSES = 1000
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


def parse_meta(data: bytes, source: str) -> dict[int, str]:
    """ILSVRC2012_ID -> WNID of the leaf synsets (num_children == 0) in a devkit `meta.mat`.

    Leaves are selected by num_children, not wordnet_height (350 leaves have a height above 0)."""
    from scipy.io import loadmat  # only the flat val layout needs scipy
    from scipy.io.matlab import MatReadError

    try:
        synsets = loadmat(io.BytesIO(data), squeeze_me=True).get("synsets")
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as error:
        raise DataCorrupt(f"{source}: not a MATLAB v5 meta.mat ({error}); re-extract {DEVKIT}.tar.gz") from None
    rows = synset_rows(synsets)
    if not rows or any(name not in (row.dtype.names or ()) for row in rows for name in SYNSET_FIELDS):
        raise DataCorrupt(f"{source}: no 'synsets' struct array with fields {', '.join(SYNSET_FIELDS)}; "
                          f"re-extract {DEVKIT}.tar.gz")
    leaves: dict[int, str] = {}
    for row in rows:
        if int(row["num_children"]) == 0:
            synset_id, wnid = int(row["ILSVRC2012_ID"]), str(row["WNID"])
            if synset_id in leaves:
                raise DataCorrupt(f"{source}: leaf ILSVRC2012_ID {synset_id} listed twice; re-extract {DEVKIT}.tar.gz")
            leaves[synset_id] = wnid
    if len(set(leaves.values())) != len(leaves):
        raise DataCorrupt(f"{source}: a leaf WNID is listed twice; re-extract {DEVKIT}.tar.gz")
    if not leaves:
        raise DataCorrupt(f"{source}: no leaf synsets (num_children == 0); re-extract {DEVKIT}.tar.gz")
    return leaves


def parse_ground_truth(text: str, source: str, leaves: dict[int, str]) -> list[str]:
    """The WNID of each val image, in val-file order, from the ILSVRC2012_IDs one per line."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    wnids = []
    for number, line in enumerate(lines, start=1):
        try:
            synset_id = int(line)
        except ValueError:
            raise DataCorrupt(f"{source}: line {number}: expected one ILSVRC2012_ID, got {line!r}; "
                              f"re-extract {DEVKIT}.tar.gz") from None
        if synset_id not in leaves:
            raise DataCorrupt(f"{source}: line {number}: ILSVRC2012_ID {synset_id} is not a leaf synset of meta.mat; "
                              f"re-extract {DEVKIT}.tar.gz")
        wnids.append(leaves[synset_id])
    return wnids


class ImageNet(FileListReader):
    """ImageNet ILSVRC2012 classification, train and val (the paper tests on val).

    Tree under the task's data folder (`<data-root>/imagenet`)::

        imagenet/
            train/<wnid>/<wnid>_<num>.JPEG     the 1000 inner tars of ILSVRC2012_img_train.tar, extracted
            val/ILSVRC2012_val_00000001.JPEG   ILSVRC2012_img_val.tar extracted as shipped (flat) ...
                ...ILSVRC2012_val_00050000.JPEG
            val/<wnid>/ILSVRC2012_val_*.JPEG   ... or moved into wnid folders (torchvision, ViRB)
            ILSVRC2012_devkit_t12/data/meta.mat                                  needed for a flat val/
            ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt

    The devkit is looked for, in order, as `ILSVRC2012_devkit_t12/` inside this folder (the devkit
    tarball extracted next to train/ and val/), as `ILSVRC2012_devkit_t12/` beside this folder (all
    archives extracted into the data root), and as the unextracted `ILSVRC2012_devkit_t12.tar.gz`
    inside this folder (where torchvision keeps it).

    Class order: the sorted wnid folder names of train/ (1000). A flat val/ is labelled from the
    devkit: ground-truth line k is the ILSVRC2012_ID of `ILSVRC2012_val_<k:08d>.JPEG`, mapped
    through meta.mat's leaf synsets (num_children == 0) to its WNID, then to that wnid's index in
    the sorted leaf wnids; e.g. val image 1 is ID 490 = n01751748, class 65. A foldered val/ uses
    its sorted folder names. When train/ is present too, the val classes must equal its folders.
    Class folders must be named n########; other files in them (inner .tar files) are ignored.

    `image(i)` is (H, W, 3) uint8 RGB (CMYK and the PNG stored as .JPEG converted); `labels()` int64
    class indices 0..999. Samples are in class then file-name order (train, foldered val) or in
    ground-truth order (flat val). Full dataset: 1,281,167 train, 50,000 val images.
    """

    SPLITS = ("train", "val")
    LISTING_FIRST = True
    LAYOUT = ("imagenet/train/<wnid>/*.JPEG and imagenet/val/ (ILSVRC2012_val_*.JPEG flat with "
              f"imagenet/{DEVKIT}/{META} and {GROUND_TRUTH}, or val/<wnid>/*.JPEG)")

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        folder = self.require(self.root / split)
        wnids = subfolders(folder)
        flat = [path for path in image_files(folder) if path.name.startswith("ILSVRC2012_val_")]
        if wnids and flat:
            raise DataCorrupt(f"{folder}: holds both wnid folders and flat ILSVRC2012_val_*.JPEG images; "
                              "finish moving the images into wnid folders or re-extract ILSVRC2012_img_val.tar flat")
        if split == "val" and not wnids:
            self._index_flat_val(folder)
        else:
            self._index_folders(folder, wnids)
        if split == "val":
            self._check_classes_match_train(folder)

    def _check_classes_match_train(self, folder: Path) -> None:
        """Val labels must use train's class order; a class missing on one side would shift them."""
        train = self.root / "train"
        if not train.is_dir():
            return
        train_wnids = set(subfolders(train))
        differ = sorted(train_wnids ^ set(self.classes))
        if differ:
            raise DataCorrupt(f"{folder}: its {len(self.classes)} classes differ from the {len(train_wnids)} wnid "
                              f"folders of {train} (first difference {differ[0]}), so labels would not match "
                              "across splits; re-extract the missing class")

    def _index_folders(self, folder: Path, wnids: list[str]) -> None:
        """One folder per wnid; the label is the folder's index in sorted order."""
        if not wnids:
            raise DataCorrupt(f"{folder}: no wnid folders; expected {self.LAYOUT}")
        for wnid in wnids:
            if not WNID.fullmatch(wnid):
                raise DataCorrupt(f"{folder / wnid}: not a WordNet id folder (n########); move it out of {folder}")
        self.classes = wnids
        self._paths, labels = [], []
        for label, wnid in enumerate(wnids):
            files = image_files(folder / wnid)
            if not files:
                raise DataCorrupt(f"{folder / wnid}: no images; re-extract {wnid}.tar into it")
            self._paths += files
            labels += [label] * len(files)
        self._labels = np.asarray(labels, dtype=np.int64)

    def _index_flat_val(self, folder: Path) -> None:
        """The val tar as shipped: labels from the devkit's ground truth, in file-number order."""
        leaves, truth = self._read_devkit()
        self.classes = sorted(leaves.values())
        index = {wnid: label for label, wnid in enumerate(self.classes)}
        present = set(os.listdir(folder))
        self._paths = [folder / f"ILSVRC2012_val_{number:08d}.JPEG" for number in range(1, len(truth) + 1)]
        for path in self._paths:
            if path.name not in present:
                raise DataNotFound(f"{path}: missing; the ground truth lists {len(truth)} val images, "
                                   "re-extract ILSVRC2012_img_val.tar into val/")
        self._labels = np.asarray([index[wnid] for wnid in truth], dtype=np.int64)

    def _read_devkit(self) -> tuple[dict[int, str], list[str]]:
        """meta.mat leaves and the ground-truth WNIDs."""
        meta, truth, (meta_source, truth_source) = self._devkit_files()
        leaves = parse_meta(meta, meta_source)
        return leaves, parse_ground_truth(truth.decode("ascii", errors="replace"), truth_source, leaves)

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
        raise DataNotFound(f"{self.root / DEVKIT / META}: missing; a flat val/ needs the devkit: extract "
                           f"{DEVKIT}.tar.gz into {self.root} (or put the .tar.gz there); expected {self.LAYOUT}")

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

    The folder name is the class index in ImageNet's sorted-wnid order, read as an integer (folder
    "10" is class 10, not the third in string order); folders must be named by integers 0..999.
    `image(i)` is (H, W, 3) uint8 RGB; `labels()` int64 0..999. Samples are in class then file-name
    order; `classes` are the folder names "0".."999". One split, "test": 10,000 images.
    """

    SPLITS = ("test",)
    LAYOUT = "imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg (imagenetv2-matched-frequency.tar.gz, extracted)"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [str(label) for label in range(V2_CLASSES)]
        names = subfolders(self.require(self.root))
        if not names:
            raise DataCorrupt(f"{self.root}: no class folders 0..{V2_CLASSES - 1}; expected {self.LAYOUT}")
        for name in names:
            if not V2_FOLDER.fullmatch(name) or int(name) >= V2_CLASSES:
                raise DataCorrupt(f"{self.root / name}: not a class folder 0..{V2_CLASSES - 1}; "
                                  f"move it out of {self.root}")
        self._paths, labels = [], []
        for name in sorted(names, key=int):
            files = image_files(self.root / name)
            if not files:
                raise DataCorrupt(f"{self.root / name}: no images; re-extract imagenetv2-matched-frequency.tar.gz")
            self._paths += files
            labels += [int(name)] * len(files)
        self._labels = np.asarray(labels, dtype=np.int64)
