"""CIFAR-100 reader: the official pickle layout, Python 2 style bytes keys, and damaged files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataCorrupt
from tasks.readers import Cifar100
from tests.reader_base import ReaderTests


def write_official(root: Path, n: int, bytes_keys: bool = False) -> Path:
    """CIFAR-100 pickles as the archive ships them; bytes keys mimic Python 2 pickles read with
    encoding='bytes'. Image i is a known RGB pattern so decoding can be checked exactly."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    planes = np.zeros((n, 3, 32, 32), np.uint8)
    for i in range(n):
        planes[i, 0] = i  # red
        planes[i, 1, :, 5] = 200  # a green column at x=5
        planes[i, 2, 7, :] = 100  # a blue row at y=7

    def key(name: str):
        return name.encode() if bytes_keys else name

    for split in ("train", "test"):
        content = {
            key("filenames"): [key(f"img_{split}_{i}.png") for i in range(n)],
            key("batch_label"): key(f"{split} batch"),
            key("fine_labels"): [i % 100 for i in range(n)],
            key("coarse_labels"): [i % 20 for i in range(n)],
            key("data"): planes.reshape(n, 3072),
        }
        with open(folder / split, "wb") as handle:
            pickle.dump(content, handle, protocol=2)
    with open(folder / "meta", "wb") as handle:
        pickle.dump(
            {
                key("fine_label_names"): [key(f"c{i}") for i in range(100)],
                key("coarse_label_names"): [key(f"s{i}") for i in range(20)],
            },
            handle,
            protocol=2,
        )
    return folder


class TestCifar100(ReaderTests):
    READER = Cifar100
    SPLITS = ("train", "test")
    DATA_FOLDER = "cifar-100-python"

    def write_fixture(self, root: Path, split: str) -> int:
        write_official(root, 12)
        return 12

    def files_required(self, root: Path, split: str) -> list[Path]:
        return [root / "cifar-100-python" / name for name in (split, "meta")]

    def mutate_fixture(self, root: Path, split: str) -> bool:
        path = root / "cifar-100-python" / split
        content = pickle.loads(path.read_bytes())
        content["data"][0, 0] ^= 1
        path.write_bytes(pickle.dumps(content, protocol=2))
        return True


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_pixels_labels_and_ids_decode_exactly(tmp_path: Path, bytes_keys: bool) -> None:
    folder = write_official(tmp_path, 5, bytes_keys=bytes_keys)
    reader = Cifar100(folder, "train")
    image = reader.image(3)
    assert image.shape == (32, 32, 3)
    assert (image[..., 0] == 3).all()
    assert image[0, 5, 1] == 200 and image[0, 6, 1] == 0
    assert image[7, 0, 2] == 100 and image[8, 0, 2] == 0
    assert reader.labels().tolist() == [0, 1, 2, 3, 4]
    assert reader.image_ids()[2] == "train/img_train_2.png"
    assert len(reader.classes) == 100 and reader.classes[7] == "c7"


def test_not_a_pickle_names_the_file(tmp_path: Path) -> None:
    folder = write_official(tmp_path, 3)
    (folder / "train").write_bytes(b"\x89PNG not a pickle")
    with pytest.raises(DataCorrupt, match=f"{folder / 'train'}: not a CIFAR-100 python pickle"):
        Cifar100(folder, "train")


def test_cifar10_batch_is_refused_with_the_key_it_lacks(tmp_path: Path) -> None:
    folder = write_official(tmp_path, 3)
    with open(folder / "train", "wb") as handle:
        pickle.dump({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1, 2], "filenames": ["a", "b", "c"]}, handle)
    with pytest.raises(DataCorrupt, match="fine_labels"):
        Cifar100(folder, "train")


def test_wrong_data_shape_is_refused(tmp_path: Path) -> None:
    folder = write_official(tmp_path, 3)
    content = pickle.loads((folder / "train").read_bytes())
    content["data"] = np.zeros((3, 1024), np.uint8)
    (folder / "train").write_bytes(pickle.dumps(content))
    with pytest.raises(DataCorrupt, match=r"expected uint8 \(N, 3072\)"):
        Cifar100(folder, "train")
