"""EuroSAT RGB land-cover classification (the official `EuroSAT.zip`, extracted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.errors import DataNotFound
from tasks.readers.base import FileListReader, image_files, seeded_members, subfolders

SPLIT_SEED = 2750
"""Seed of the 80/20 split (the paper's split was never published); changing it changes every score."""

IMAGE_FOLDERS = ("2750", "EuroSAT/2750")
"""Where the class folders may sit under the data folder, tried in this order."""

CLASSES = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
"""The 10 classes of the full dataset, in label order (sorted names)."""


class EuroSAT(FileListReader):
    """EuroSAT (RGB): 27,000 Sentinel-2 patches of 64x64 in 10 land-cover classes.

    Tree under the task's data folder (`<data-root>/eurosat`, the folder `EuroSAT.zip` is extracted into)::

        eurosat/
            2750/                            (or eurosat/EuroSAT/2750/; the first one present is read)
                AnnualCrop/AnnualCrop_1.jpg ... AnnualCrop_3000.jpg
                Forest/Forest_1.jpg ...
                ...                          10 class folders, 2,000-3,000 JPEGs each

    Class c is the c-th class folder in sorted name order (the full dataset's are CLASSES); a
    class's images are the `*.jpg` files in its folder, sorted by name. The paper's 80/20 split,
    which it never published, is redrawn per class with `seeded_split(sizes, SPLIT_SEED)`: 4/5 of
    each class to train, the rest to test. Every full class size is a multiple of 5, so on the
    full dataset each class splits exactly 80/20: 21,600 train / 5,400 test.

    Samples are in class order, then name order. `image(i)` is (64, 64, 3) uint8 RGB; `labels()`
    int64 in 0..9; `image_ids()` the path under `2750/` (`Forest/Forest_12.jpg`), so the ids and
    the digest do not depend on which of the two accepted folders holds the images.
    """

    SPLITS = ("train", "test")
    LAYOUT = (
        "eurosat/2750/<Class>/<Class>_<n>.jpg or eurosat/EuroSAT/2750/<Class>/<Class>_<n>.jpg "
        "(EuroSAT.zip, the RGB version, extracted into the data folder)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        found = [self.root / name for name in IMAGE_FOLDERS if (self.root / name).is_dir()]
        if not found:
            raise DataNotFound(
                f"{self.root / IMAGE_FOLDERS[0]}: missing (and no {self.root / IMAGE_FOLDERS[1]}); "
                f"expected {self.LAYOUT}"
            )
        self.image_root = found[0]
        folders = [self.image_root / name for name in subfolders(self.image_root)]
        if not folders:
            raise DataNotFound(f"{self.image_root}: no class folders; expected {self.LAYOUT}")
        self.classes = [folder.name for folder in folders]
        per_class = [self._class_images(folder) for folder in folders]
        self._paths, labels = seeded_members(per_class, SPLIT_SEED, train=split == "train")
        self._labels = np.array(labels, dtype=np.int64)

    def _class_images(self, folder: Path) -> list[Path]:
        """A class folder's JPEGs sorted by name; an empty class is a broken extraction."""
        images = image_files(folder, (".jpg",))
        if not images:
            raise DataNotFound(f"{folder}: no .jpg images; expected {self.LAYOUT}")
        return images
