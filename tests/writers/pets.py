"""Oxford-IIIT Pets fixtures in the official layout: `images/<Breed>_<n>.jpg`, `annotations/list.txt`
(with its '#' header), `trainval.txt`, `test.txt` and `trimaps/<Image>.png`.

Each image is a disc on noise; the breed (CLASS-ID - 1) sets the disc's colour and fill through
`tasks.synthetic` (10 distinguishable classes, repeating after that), and the trimap marks the disc:
1 = pet, 2 = background, 3 = the one-pixel boundary ring, so both the breed and the mask are learnable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tasks.readers.pets import BREEDS
from tasks.synthetic import FILLS, N_CLASSES, PALETTE
from tests.writers.images import save_jpeg

LIST_HEADER = (
    "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n#SPECIES: 1:Cat 2:Dog\n"
    "#BREED ID: 1-25:Cat 1:12:Dog\n#All images with 1st letter as captial are cat images\n"
    "#images with small first letter are dog images\n"
)


def draw_pet(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An image of class `label` and its trimap (1 pet, 2 background, 3 boundary)."""
    colour = PALETTE[label % N_CLASSES % len(PALETTE)]
    striped = FILLS[label % N_CLASSES // len(PALETTE)] == "striped"
    radius = rng.uniform(0.25, 0.35) * size
    cy, cx = rng.uniform(radius + 1, size - radius - 1, size=2)
    yy, xx = np.mgrid[0:size, 0:size]
    distance = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    pet = distance <= radius
    image = rng.normal(110.0, 25.0, size=(size, size, 3))
    paint = pet & ((yy // 2) % 2 == 0) if striped else pet
    image[paint] = colour + rng.normal(0.0, 12.0, size=(int(paint.sum()), 3))
    trimap = np.where(pet, 1, 2).astype(np.uint8)
    trimap[(distance > radius - 1) & (distance <= radius + 1)] = 3
    return np.clip(image, 0, 255).astype(np.uint8), trimap


def species_and_breed_id(class_id: int) -> tuple[int, int]:
    """SPECIES (1 cat, 2 dog) and the 1-based BREED-ID within the species of a CLASS-ID."""
    breed = BREEDS[class_id - 1]
    species = 1 if breed[0].isupper() else 2
    same = [name for name in BREEDS[:class_id] if (name[0].isupper()) == (species == 1)]
    return species, len(same)


def write_pets(
    root: Path, n_classes: int = 4, trainval_per_class: int = 3, test_per_class: int = 2, seed: int = 0, size: int = 32
) -> Path:
    """`root/oxford-iiit-pet` with the first `n_classes` breeds (CLASS-IDs 1..n_classes). Image numbers
    1..trainval_per_class go to trainval, the next test_per_class to test. Returns the data folder."""
    folder = root / "oxford-iiit-pet"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    for class_id in range(1, n_classes + 1):
        species, breed_id = species_and_breed_id(class_id)
        for number in range(1, trainval_per_class + test_per_class + 1):
            name = f"{BREEDS[class_id - 1]}_{number}"
            image, trimap = draw_pet(rng, class_id - 1, size)
            save_jpeg(image, folder / "images" / f"{name}.jpg")
            Image.fromarray(trimap).save(folder / "annotations" / "trimaps" / f"{name}.png")
            split = "trainval" if number <= trainval_per_class else "test"
            lines[split].append(f"{name} {class_id} {species} {breed_id}\n")
    for split, split_lines in lines.items():
        (folder / "annotations" / f"{split}.txt").write_text("".join(split_lines))
    (folder / "annotations" / "list.txt").write_text(LIST_HEADER + "".join(sorted(lines["trainval"] + lines["test"])))
    return folder
