"""Bad inputs end in one line naming the file, never a traceback: a corrupt image decoded in a
DataLoader worker, and split lists whose entries point outside the dataset folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.trials import Ccbench, record, shown
from tests.writers.images import save_jpeg
from tests.writers.nuscenes import write_nuscenes_egomotion
from tests.writers.pets import write_pets
from tests.writers.thor import write_thor_egomotion


def extract(base: Path, task: str, *extra: str) -> list[str]:
    return [
        "extract",
        "--task",
        task,
        "--encoder",
        "random:0",
        "--data-root",
        base / "data",
        "--cache",
        base / "cache",
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]


def test_corrupt_image_in_a_dataloader_worker_is_one_line(ccbench: Ccbench, tmp_path: Path) -> None:
    folder = write_pets(tmp_path / "data")
    broken = sorted((folder / "images").glob("*.jpg"))[5]
    broken.write_bytes(broken.read_bytes()[:200])  # a download cut short
    outcome = ccbench(tmp_path, extract(tmp_path, "pets", "--workers", "2"))
    lines = outcome.error_lines()
    survived = outcome.code == 2 and len(lines) == 1 and str(broken) in lines[0] and "Traceback" not in outcome.err
    record(
        "corrupt JPEG decoded in a DataLoader worker (`--workers 2`)",
        1,
        int(survived),
        f"{shown(lines[0], tmp_path)}" if lines else "(nothing)",
    )
    assert survived, outcome.err


BLACK = np.zeros((8, 8, 3), dtype=np.uint8)


def outside(base: Path) -> None:
    """Real images outside the data folder, which an escaping entry would otherwise reach."""
    for name in ("secret.jpg", "secret_rgb_a.jpg", "secret_rgb_b.jpg"):
        save_jpeg(BLACK, base / "elsewhere" / name)


def pets(base: Path) -> tuple[str, Path]:
    folder = write_pets(base / "data")
    listing = folder / "annotations" / "trainval.txt"
    listing.write_text(listing.read_text() + "../../../elsewhere/secret 1 1 1\n")
    save_jpeg(BLACK, folder / "images" / "secret.jpg")  # the name the old check looked for
    return "pets", listing


def thor(base: Path) -> tuple[str, Path]:
    folder = write_thor_egomotion(base / "data", n_train=10, n_val=5)
    listing = folder / "train_labels.txt"
    listing.write_text(listing.read_text() + "../../elsewhere/secret MoveAhead\n")
    return "thor_egomotion", listing


def nuscenes(base: Path) -> tuple[str, Path]:
    folder = write_nuscenes_egomotion(base / "data", n_train=8, n_test=4)
    listing = folder / "nuScenes_train.json"
    entries = json.loads(listing.read_text())
    listing.write_text(json.dumps([*entries, {**entries[0], "img_b": str(base / "elsewhere" / "secret.jpg")}]))
    return "nuscenes_egomotion", listing


@pytest.mark.parametrize("make", [pets, thor, nuscenes], ids=["pets", "thor_egomotion", "nuscenes"])
def test_list_entry_outside_the_data_folder_is_refused(
    make: Callable[[Path], tuple[str, Path]], ccbench: Ccbench, tmp_path: Path
) -> None:
    outside(tmp_path)
    task, listing = make(tmp_path)
    outcome = ccbench(tmp_path, extract(tmp_path, task, "--workers", "0"))
    lines = outcome.error_lines()
    survived = (
        outcome.code == 2
        and len(lines) == 1
        and str(listing) in lines[0]
        and "outside the data folder" in lines[0]
        and not (tmp_path / "cache" / "features").exists()
    )
    record(
        f"{task} split list naming a file outside the data folder",
        1,
        int(survived),
        f"{shown(lines[0], tmp_path)}" if lines else "(nothing)",
    )
    assert survived, outcome.err
