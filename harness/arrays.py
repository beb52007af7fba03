"""Arrays decoded once into the cache as memory-mapped .npy files (dense targets, decoded inputs):
rows are read on demand, so memory stays flat however many rows a split has."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from harness.cache import disk_error


def cached_array(path: Path, dtype: type, shape: tuple[int, ...], row: Callable[[int], np.ndarray],
                 advance: Callable[[int], None] | None = None) -> np.ndarray:
    """The array at `path`, built first from `row(i)` for each of shape[0] rows when absent.

    It is written under a temporary name and renamed when whole, so an interrupted or failed build
    (a full disk, a corrupt source file) never leaves a half-written array behind."""
    if path.exists():
        return np.load(path, mmap_mode="r")
    partial = path.with_name(f"{path.stem}.partial.npy")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=shape)
        for index in range(shape[0]):
            array[index] = row(index)
            if advance is not None:
                advance(1)
        array.flush()
        del array
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise disk_error(path, error) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return np.load(path, mmap_mode="r")


def take_rows(array: np.ndarray, rows: torch.Tensor) -> torch.Tensor:
    """array[rows] read in ascending order (sequential on disk), returned in the order asked."""
    wanted = rows.numpy()
    order = np.unique(wanted)
    values = torch.from_numpy(np.ascontiguousarray(array[order]))
    return values[torch.from_numpy(np.searchsorted(order, wanted))]
