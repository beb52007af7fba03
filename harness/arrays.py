"""Arrays decoded once into the cache as memory-mapped .npy files (dense targets, decoded inputs):
rows are read on demand, so memory stays flat however many rows a split has."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from harness.cache import disk_error
from harness.checked import is_sound, write_checked
from leaderboard.locations import Remote


def cached_array(
    path: Path,
    dtype: type,
    shape: tuple[int, ...],
    row: Callable[[int], np.ndarray],
    advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The array at `path`, built first from `row(i)` for each of shape[0] rows when absent.

    It is written whole with its checksum (harness.checked), so an interrupted or failed build (a
    full disk, a corrupt source file) never leaves a half-written array behind, and an array
    changed or cut short since is refused instead of read."""
    if not is_sound(path):

        def fill(tmp: Path) -> None:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            for index in range(shape[0]):
                array[index] = row(index)
                if advance is not None:
                    advance(1)
            array.flush()
            del array

        try:
            write_checked(path, fill)
        except OSError as error:
            raise disk_error(path, error) from None
    if isinstance(path, Remote):  # an object store cannot be memory-mapped: read whole
        return np.load(io.BytesIO(path.read_bytes()))
    return np.load(path, mmap_mode="r")


def take_rows(array: np.ndarray, rows: torch.Tensor) -> torch.Tensor:
    """array[rows] read in ascending order (sequential on disk), returned in the order asked."""
    wanted = rows.numpy()
    order = np.unique(wanted)
    values = torch.from_numpy(np.ascontiguousarray(array[order]))
    return values[torch.from_numpy(np.searchsorted(order, wanted))]
