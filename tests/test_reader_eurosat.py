"""EuroSAT reader: both accepted folders, sorted classes and the seeded 80/20 split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataNotFound
from tasks.readers.base import train_counts
from tasks.readers.eurosat import CLASSES, EuroSAT
from tests.reader_base import ReaderTests
from tests.writers.eurosat import write_eurosat
from tests.writers.images import rewrite_larger

FULL_SIZES = {
    "AnnualCrop": 3000,
    "Forest": 3000,
    "HerbaceousVegetation": 3000,
    "Highway": 2500,
    "Industrial": 2500,
    "Pasture": 2000,
    "PermanentCrop": 2500,
    "Residential": 3000,
    "River": 2500,
    "SeaLake": 3000,
}
"""Images per class in EuroSAT.zip."""


class TestEuroSAT(ReaderTests):
    READER = EuroSAT
    SPLITS = ("train", "test")
    DATA_FOLDER = "eurosat"
    NESTED = False
    """Whether the fixture puts the class folders in eurosat/EuroSAT/2750 rather than eurosat/2750."""

    def image_root(self, root: Path) -> Path:
        return root / self.DATA_FOLDER / ("EuroSAT/2750" if self.NESTED else "2750")

    def write_fixture(self, root: Path, split: str) -> int:
        write_eurosat(root, per_class=5, size=16, nested=self.NESTED)
        return 40 if split == "train" else 10

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [self.image_root(root)]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        rewrite_larger(self.image_root(root) / self.open(root, split).image_ids()[0])
        return True


class TestEuroSATNested(TestEuroSAT):
    NESTED = True


def test_full_dataset_splits_exactly_80_20() -> None:
    counts = train_counts([FULL_SIZES[name] for name in CLASSES])
    assert sum(FULL_SIZES.values()) == 27_000 and sum(counts) == 21_600
    assert counts == [size * 4 // 5 for size in (FULL_SIZES[name] for name in CLASSES)]


def test_sorted_classes_and_a_stratified_disjoint_split(tmp_path: Path) -> None:
    classes = ("Forest", "Highway", "River")
    data = write_eurosat(tmp_path, per_class=10, size=16, classes=classes)
    train, test = EuroSAT(data, "train"), EuroSAT(data, "test")
    assert train.classes == list(classes)
    assert np.bincount(train.labels()).tolist() == [8, 8, 8] and np.bincount(test.labels()).tolist() == [2, 2, 2]
    assert not set(train.image_ids()) & set(test.image_ids())
    for reader in (train, test):
        for image_id, label in zip(reader.image_ids(), reader.labels()):
            assert image_id.startswith(f"{classes[label]}/{classes[label]}_") and image_id.endswith(".jpg")
    assert train.image(0).shape == (16, 16, 3)


def test_both_folders_give_the_same_ids_and_digest(tmp_path: Path) -> None:
    flat = EuroSAT(write_eurosat(tmp_path / "flat", per_class=5, size=16), "test")
    nested = EuroSAT(write_eurosat(tmp_path / "nested", per_class=5, size=16, nested=True), "test")
    assert nested.image_root.parts[-2:] == ("EuroSAT", "2750")
    assert flat.image_ids() == nested.image_ids() and flat.manifest_digest == nested.manifest_digest


def test_missing_folder_names_both_accepted_places(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match="EuroSAT/2750"):
        EuroSAT(tmp_path / "eurosat", "train")
