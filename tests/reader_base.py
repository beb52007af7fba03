"""Conformance suite every dataset reader's tests subclass (as zarr's StoreTests or torchvision's
DatasetTestCase): a subclass writes a few files in the real layout, the base checks the contract."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tasks.errors import DataNotFound
from tasks.readers import FrameReader, Reader


def append_blank_line(path: Path) -> None:
    """Change a list or label file's bytes but not its entries (readers skip blank lines): a
    `mutate_fixture` edit that only the file's own digest can notice."""
    path.write_text(path.read_text() + "\n")


class ReaderTests:
    READER: type[Reader]
    SPLITS: tuple[str, ...]
    DATA_FOLDER: str
    """The task's data folder under the data root, where the reader is pointed."""

    def open(self, root: Path, split: str) -> Reader:
        return self.READER(root / self.DATA_FOLDER, split)

    def write_fixture(self, root: Path, split: str) -> int:
        """Write a tiny dataset in the official layout under `root`; return the split's sample count
        (images for a plain reader, frame groups for a FrameReader)."""
        raise NotImplementedError

    def files_required(self, root: Path, split: str) -> list[Path]:
        """Files whose absence must be reported by name."""
        raise NotImplementedError

    def mutate_fixture(self, root: Path, split: str) -> bool:
        """Edit one file the split reads in the fixture written under `root` (rewrite an image at another
        size, change a list or label file without changing its entries) and return True, so the suite
        checks the manifest follows the content; False (the default) where a reader's tests have no
        such edit."""
        return False

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every split-taking check once per split of the reader."""
        if "split" in metafunc.fixturenames:
            metafunc.parametrize("split", self.SPLITS)

    def test_length_types_and_ids(self, tmp_path: Path, split: str) -> None:
        expected = self.write_fixture(tmp_path, split)
        reader = self.open(tmp_path, split)
        assert expected > 0
        ids = reader.image_ids()
        if isinstance(reader, FrameReader):
            samples = reader.samples()
            assert samples.dtype == np.int64 and samples.shape == (expected, reader.FRAMES)
            assert len(set(ids)) == len(ids), "a frame used by several samples must be one image"
            assert np.unique(samples).tolist() == list(range(len(reader))), "every frame must belong to a sample"
        else:
            assert len(reader) == expected
        image = reader.image(len(reader) - 1)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        labels = reader.labels()
        assert labels.dtype == np.int64 and labels.shape == (expected,) and labels.min() >= 0
        assert all(isinstance(name, str) for name in reader.classes) and labels.max() < len(reader.classes)
        assert len(ids) == len(reader) and len(set(ids)) == len(reader)

    def test_manifest_is_stable_and_content_sensitive(self, tmp_path: Path, split: str) -> None:
        self.write_fixture(tmp_path / "a", split)
        self.write_fixture(tmp_path / "b", split)
        first, second = self.open(tmp_path / "a", split), self.open(tmp_path / "b", split)
        assert first.manifest_digest == second.manifest_digest
        if self.mutate_fixture(tmp_path / "b", split):
            assert self.open(tmp_path / "b", split).manifest_digest != first.manifest_digest

    def test_missing_file_is_named(self, tmp_path: Path, split: str) -> None:
        self.write_fixture(tmp_path, split)
        for path in self.files_required(tmp_path, split):
            moved = path.with_name(path.name + ".away")
            path.rename(moved)
            with pytest.raises(DataNotFound, match=re.escape(str(path))):
                self.open(tmp_path, split)
            moved.rename(path)

    def test_unknown_split_lists_valid_ones(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=self.SPLITS[0]):
            self.open(tmp_path, "no-such-split")
