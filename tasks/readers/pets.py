"""Oxford-IIIT Pets (the official images.tar.gz and annotations.tar.gz, extracted side by side)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import IGNORE, DenseReader, FileListReader, load_map

BREEDS = (
    "Abyssinian",
    "american_bulldog",
    "american_pit_bull_terrier",
    "basset_hound",
    "beagle",
    "Bengal",
    "Birman",
    "Bombay",
    "boxer",
    "British_Shorthair",
    "chihuahua",
    "Egyptian_Mau",
    "english_cocker_spaniel",
    "english_setter",
    "german_shorthaired",
    "great_pyrenees",
    "havanese",
    "japanese_chin",
    "keeshond",
    "leonberger",
    "Maine_Coon",
    "miniature_pinscher",
    "newfoundland",
    "Persian",
    "pomeranian",
    "pug",
    "Ragdoll",
    "Russian_Blue",
    "saint_bernard",
    "samoyed",
    "scottish_terrier",
    "shiba_inu",
    "Siamese",
    "Sphynx",
    "staffordshire_bull_terrier",
    "wheaten_terrier",
    "yorkshire_terrier",
)
"""The 37 breeds in CLASS-ID order, spelled as in the image names; cat breeds are capitalised (SPECIES 1),
dog breeds not (SPECIES 2)."""

NUM_CLASSES = len(BREEDS)
"""Breeds; CLASS-ID 1..37 in the lists (12 cat breeds, 25 dog breeds)."""

TRIMAP_VALUES = (1, 2, 3)
TRIMAP_CLASS = np.full(256, IGNORE, dtype=np.int64)
TRIMAP_CLASS[list(TRIMAP_VALUES)] = [1, 0, IGNORE]
"""Trimap value -> class: 1 pet -> 1, 2 background -> 0, 3 boundary -> IGNORE."""


def read_split_list(path: Path) -> tuple[list[str], list[int]]:
    """Image names and 1-based CLASS-IDs of a list file with lines "Image CLASS-ID SPECIES BREED-ID";
    '#' comment lines and blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataCorrupt(f"{path}: not a text list ({error}); re-extract annotations.tar.gz") from None
    names, class_ids = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        numbers = fields[1:]
        if len(fields) != 4 or not all(value.isdigit() for value in numbers) or not 1 <= int(numbers[0]) <= NUM_CLASSES:
            raise DataCorrupt(
                f"{path}: line {number}: expected 'Image CLASS-ID SPECIES BREED-ID' with CLASS-ID "
                f"1..{NUM_CLASSES}, got {line.strip()!r}; re-extract annotations.tar.gz"
            )
        names.append(fields[0])
        class_ids.append(int(numbers[0]))
    if len(set(names)) != len(names):
        raise DataCorrupt(f"{path}: lists an image twice; re-extract annotations.tar.gz")
    return names, class_ids


class OxfordPets(FileListReader):
    """Oxford-IIIT Pets breed classification on the official trainval/test split.

    Tree under the task's data folder (`<data-root>/oxford-iiit-pet`, torchvision's name; put both
    archives' folders there)::

        oxford-iiit-pet/
            images/<Breed_name>_<n>.jpg            images.tar.gz (stray non-image files are ignored)
            annotations/trainval.txt               annotations.tar.gz: lines "Image CLASS-ID SPECIES BREED-ID",
            annotations/test.txt                   '#' comment lines allowed
            annotations/trimaps/<Image>.png        (read by the segmentation task, not here)

    The split lists drive the samples, in list order; each needs `images/<Image>.jpg`. `image(i)` is
    (H, W, 3) uint8 RGB (the few PNG/grayscale/CMYK files converted); `labels()` int64 CLASS-ID - 1,
    i.e. the 37 breeds in the lists' order (alphabetical ignoring case: 0 Abyssinian, 1
    american_bulldog, ..., 36 yorkshire_terrier), named by `classes` (BREEDS). Full dataset: 3,680
    trainval, 3,669 test images.

    `names` (image names without extension), `image_ids` (`images/<Image>.jpg`) and `content_digest`
    (the split's images and list file, not the trimaps) are what a segmentation reader over the same
    images reuses, so the two tasks share one feature cache.
    """

    SPLITS = ("trainval", "test")
    LISTING_FIRST = True
    LAYOUT = (
        "oxford-iiit-pet/images/<Image>.jpg and oxford-iiit-pet/annotations/{trainval,test}.txt "
        "(images.tar.gz and annotations.tar.gz, extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = list(BREEDS)
        self.list_path = self.require_index(self.root / "annotations" / f"{split}.txt")
        images = self.require(self.root / "images")
        self.names, class_ids = read_split_list(self.list_path)
        present = set(os.listdir(images))
        self._paths = [self.inside(images / f"{name}.jpg", f"{self.list_path}: image {name!r}") for name in self.names]
        for path in self._paths:
            if path.name not in present:
                raise DataNotFound(f"{path}: missing, though {self.list_path} lists it; re-extract images.tar.gz")
        self._labels = np.asarray(class_ids, dtype=np.int64) - 1


class OxfordPetsSegmentation(DenseReader, OxfordPets):
    """Oxford-IIIT Pets foreground segmentation from the trimaps, on the official trainval/test split.

    The tree is OxfordPets' (same data folder); every listed image also needs
    `annotations/trimaps/<Image>.png`. Images, order, `image_ids` and `content_digest` are exactly
    OxfordPets', so both tasks share one feature cache. `target(i)` is the trimap as int64 classes
    0 background, 1 pet (named by `classes`) and 255 for the boundary band, which the dataset
    leaves unclassified. (The original code trained on trimap - 1 with the boundary merged into
    background, i.e. with the foreground inverted; this reader keeps the dataset's meaning.)
    """

    TARGET = "classes"

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = ["background", "pet"]
        trimaps = self.require(self.root / "annotations" / "trimaps")
        present = set(os.listdir(trimaps))
        self._trimaps = [trimaps / f"{name}.png" for name in self.names]
        for path in self._trimaps:
            if path.name not in present:
                raise DataNotFound(f"{path}: missing, though {self.list_path} lists it; re-extract annotations.tar.gz")

    def target(self, index: int) -> np.ndarray:
        path = self._trimaps[index]
        trimap = load_map(path)
        if trimap.dtype != np.uint8 or not np.isin(trimap, TRIMAP_VALUES).all():
            raise DataCorrupt(f"{path}: not an 8-bit trimap of values 1, 2, 3; re-extract annotations.tar.gz")
        return TRIMAP_CLASS[trimap]
