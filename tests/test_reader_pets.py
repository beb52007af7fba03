"""Oxford-IIIT Pets reader: list-driven samples, 1-based CLASS-IDs, comment lines, trimap-independent identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.pets import OxfordPets, OxfordPetsSegmentation
from tests.reader_base import ReaderTests
from tests.writers.pets import species_and_breed_id, write_pets


class TestOxfordPets(ReaderTests):
    READER = OxfordPets
    SPLITS = ("trainval", "test")
    DATA_FOLDER = "oxford-iiit-pet"

    def write_fixture(self, root: Path, split: str) -> int:
        write_pets(root, n_classes=3, trainval_per_class=3, test_per_class=2)
        return 9 if split == "trainval" else 6

    def files_required(self, root: Path, split: str) -> list[Path]:
        folder = root / "oxford-iiit-pet"
        image = "american_bulldog_2.jpg" if split == "trainval" else "american_bulldog_5.jpg"
        return [folder / "annotations" / f"{split}.txt", folder / "images", folder / "images" / image]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        listing = root / self.DATA_FOLDER / "annotations" / f"{split}.txt"
        listing.write_text("#Image CLASS-ID SPECIES BREED ID\n" + listing.read_text())  # same entries
        return True


def test_labels_are_class_id_minus_one_in_list_order(tmp_path: Path) -> None:
    folder = write_pets(tmp_path, n_classes=3, trainval_per_class=2, test_per_class=1)
    listing = folder / "annotations" / "test.txt"
    listing.write_text("#Image CLASS-ID SPECIES BREED ID\n\nBengal_3 6 1 2\n# a comment\nAbyssinian_3 1 1 1\n")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "images" / "Bengal_3.jpg")
    reader = OxfordPets(folder, "test")
    assert reader.labels().tolist() == [5, 0]
    assert reader.names == ["Bengal_3", "Abyssinian_3"]
    assert reader.image_ids() == ["images/Bengal_3.jpg", "images/Abyssinian_3.jpg"]
    assert OxfordPets(folder, "trainval").labels().tolist() == [0, 0, 1, 1, 2, 2]


def test_writer_species_and_breed_ids_follow_the_dataset() -> None:
    assert species_and_breed_id(1) == (1, 1)  # Abyssinian: first cat
    assert species_and_breed_id(2) == (2, 1)  # american_bulldog: first dog
    assert species_and_breed_id(6) == (1, 2)  # Bengal: second cat
    assert species_and_breed_id(37) == (2, 25)  # yorkshire_terrier: last of 25 dogs


def test_stray_files_are_ignored_and_trimaps_do_not_enter_the_identity(tmp_path: Path) -> None:
    folder = write_pets(tmp_path)
    before = OxfordPets(folder, "trainval").manifest_digest
    (folder / "images" / "Abyssinian_100.mat").write_bytes(b"stray")
    (folder / "images" / "Abyssinian_99.jpg").write_bytes(b"unlisted")
    trimap = folder / "annotations" / "trimaps" / "Abyssinian_1.png"
    Image.fromarray(np.full((8, 8), 2, np.uint8)).save(trimap)
    assert OxfordPets(folder, "trainval").manifest_digest == before


def test_edited_image_changes_the_manifest(tmp_path: Path) -> None:
    folder = write_pets(tmp_path)
    before = OxfordPets(folder, "test").manifest_digest
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "images" / "Abyssinian_4.jpg")
    assert OxfordPets(folder, "test").manifest_digest != before


@pytest.mark.parametrize(
    "line", ["Abyssinian_1 1 1", "Abyssinian_1 one 1 1", "Abyssinian_1 38 1 1", "Abyssinian_1 0 1 1"]
)
def test_malformed_list_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    folder = write_pets(tmp_path)
    listing = folder / "annotations" / "trainval.txt"
    listing.write_text(f"Abyssinian_2 1 1 1\n{line}\n")
    with pytest.raises(DataCorrupt, match=f"{listing}: line 2: expected 'Image CLASS-ID SPECIES BREED-ID'"):
        OxfordPets(folder, "trainval")


def test_duplicate_list_entry_is_refused(tmp_path: Path) -> None:
    folder = write_pets(tmp_path)
    listing = folder / "annotations" / "test.txt"
    listing.write_text("Abyssinian_4 1 1 1\nAbyssinian_4 1 1 1\n")
    with pytest.raises(DataCorrupt, match=f"{listing}: lists an image twice"):
        OxfordPets(folder, "test")


def test_grayscale_image_decodes_to_rgb_and_corrupt_one_is_named(tmp_path: Path) -> None:
    folder = write_pets(tmp_path, n_classes=1, trainval_per_class=2, test_per_class=1)
    Image.fromarray(np.full((10, 12), 77, np.uint8)).save(folder / "images" / "Abyssinian_1.jpg")
    broken = folder / "images" / "Abyssinian_2.jpg"
    broken.write_bytes(broken.read_bytes()[:30])
    reader = OxfordPets(folder, "trainval")
    image = reader.image(0)
    assert image.shape == (10, 12, 3) and abs(int(image[5, 5, 1]) - 77) <= 2
    with pytest.raises(DataCorrupt, match=str(broken)):
        reader.image(1)


def test_listed_image_missing_is_named(tmp_path: Path) -> None:
    folder = write_pets(tmp_path)
    (folder / "images" / "basset_hound_4.jpg").unlink()
    with pytest.raises(DataNotFound, match=str(folder / "images" / "basset_hound_4.jpg")):
        OxfordPets(folder, "test")


class TestOxfordPetsSegmentation(TestOxfordPets):
    READER = OxfordPetsSegmentation

    def files_required(self, root: Path, split: str) -> list[Path]:
        trimaps = root / self.DATA_FOLDER / "annotations" / "trimaps"
        name = "Abyssinian_3.png" if split == "trainval" else "american_pit_bull_terrier_5.png"
        return [*super().files_required(root, split), trimaps, trimaps / name]


@pytest.mark.parametrize("split", ["trainval", "test"])
def test_segmentation_shares_the_classification_identity(tmp_path: Path, split: str) -> None:
    folder = write_pets(tmp_path)
    classification, segmentation = OxfordPets(folder, split), OxfordPetsSegmentation(folder, split)
    assert segmentation.image_ids() == classification.image_ids()
    assert segmentation.content_digest() == classification.content_digest()
    assert segmentation.manifest_digest == classification.manifest_digest
    assert segmentation.labels().tolist() == [0] * len(classification)
    assert segmentation.classes == ["background", "pet"] and segmentation.TARGET == "classes"


def test_trimap_becomes_pet_one_background_zero_boundary_ignored(tmp_path: Path) -> None:
    folder = write_pets(tmp_path, n_classes=1, trainval_per_class=2, test_per_class=1)
    reader = OxfordPetsSegmentation(folder, "trainval")
    with Image.open(folder / "annotations" / "trimaps" / "Abyssinian_2.png") as image:
        trimap = np.asarray(image)
    target = reader.target(1)
    assert target.dtype == np.int64 and target.shape == trimap.shape == reader.image(1).shape[:2]
    assert np.array_equal(target == 1, trimap == 1) and np.array_equal(target == 0, trimap == 2)
    assert np.array_equal(target == 255, trimap == 3) and (target == 1).any() and (target == 255).any()


@pytest.mark.parametrize("values", [np.array([[1, 2], [3, 0]], np.uint8), np.array([[1, 2], [3, 2]], np.uint16)])
def test_trimap_with_foreign_values_is_refused_by_path(tmp_path: Path, values: np.ndarray) -> None:
    folder = write_pets(tmp_path, n_classes=1, trainval_per_class=2, test_per_class=1)
    path = folder / "annotations" / "trimaps" / "Abyssinian_1.png"
    Image.fromarray(values).save(path)
    with pytest.raises(DataCorrupt, match=str(path)):
        OxfordPetsSegmentation(folder, "trainval").target(0)
