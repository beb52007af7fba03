"""Zarr v3 feature stores: one per cache key, written in units with a commit flag per unit.

Layout of a store (a Zarr group at `<cache>/features/<d[:2]>/<d>.zarr`, d = the key's digest)::

    features  (N, C[, H, W]) float16, chunked along N, Blosc zstd-1 + byte shuffle, then crc32c
    done      (units,) uint8, one chunk per unit: 1 once every row of the unit is written
    attrs     key (the full CacheKey), digest, image_set, unit_rows, complete, versions, created

A unit is at most MAX_UNIT_ROWS images and at most UNIT_BYTES of raw features, so an extraction
holds little in memory whatever the block size (256 pooled vectors, or 32 stem maps at 224 px).

A unit's rows are written first and its flag last, each through Zarr's atomic per-file writes,
so a killed run leaves finished units intact and unfinished ones visibly undone; the crc32c
codec makes a damaged chunk fail loudly on read instead of decoding to wrong numbers.
"""
from __future__ import annotations

import errno
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

from harness import __version__
from harness.cache_key import CacheKey, digest
from harness.errors import CacheError, CacheKeyMismatch, CorruptChunk

MAX_UNIT_ROWS = 256
"""Images per commit unit at most: what an interrupted extraction can lose. A power of two, so
every store's units (powers of two up to it) nest inside its boundaries."""

UNIT_BYTES = 64 << 20
"""Raw float16 bytes per unit at most: what the extraction buffers per block."""


def unit_rows_for(item_shape: tuple[int, ...]) -> int:
    """The largest power of two up to MAX_UNIT_ROWS whose unit stays within UNIT_BYTES."""
    item_bytes = 2 * math.prod(item_shape)
    rows = MAX_UNIT_ROWS
    while rows > 1 and rows * item_bytes > UNIT_BYTES:
        rows //= 2
    return rows


def compressors() -> tuple[Any, ...]:
    """Chosen in bench/extract.py: 1.69x on all blocks, 9% below Blosc zstd-5 (1.86x) at 3.4x its
    encode speed, and the same ratio as the default zstd with faster encoding; crc32c catches damage."""
    return (BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"), Crc32cCodec())


def disk_error(path: Path, error: OSError) -> CacheError:
    """Turn a full disk or an unwritable folder into one line with the fix."""
    if error.errno == errno.ENOSPC:
        return CacheError(f"{path}: disk full while writing features; free space or set CCBENCH_CACHE to a "
                          "larger disk and rerun (finished units are kept)")
    return CacheError(f"{path}: cannot write the feature cache ({error.strerror or error}); "
                      "check permissions or set CCBENCH_CACHE")


@dataclass
class FeatureStore:
    """An opened store. Create or resume with `open_for_write`, read with `open_complete`."""

    path: Path
    key: CacheKey
    group: zarr.Group
    unit_size: int

    @property
    def features(self) -> zarr.Array:
        return self.group["features"]

    @property
    def n_units(self) -> int:
        return -(-self.key.n_images // self.unit_size)

    @property
    def complete(self) -> bool:
        return bool(self.group.attrs.get("complete", False))

    @staticmethod
    def path_for(root: Path, key: CacheKey) -> Path:
        return Path(root) / key.relpath()

    @classmethod
    def open_for_write(cls, root: Path, key: CacheKey, item_shape: tuple[int, ...], image_set: str) -> "FeatureStore":
        """Resume the store of `key`, or create it; leftovers of a killed write are removed."""
        path = cls.path_for(root, key)
        if path.exists():
            try:
                store = cls._open(path, key)
            except CacheKeyMismatch:
                raise
            except CacheError:
                shutil.rmtree(path)
            else:
                for leftover in path.rglob("*.partial"):
                    leftover.unlink(missing_ok=True)
                return store
        try:
            return cls._create(path, key, item_shape, image_set)
        except OSError as error:
            shutil.rmtree(path, ignore_errors=True)
            raise disk_error(path, error) from None

    @classmethod
    def _create(cls, path: Path, key: CacheKey, item_shape: tuple[int, ...], image_set: str) -> "FeatureStore":
        path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(zarr.storage.LocalStore(path), mode="w", zarr_format=3)
        unit_size = unit_rows_for(item_shape)
        chunk_rows = unit_size if len(item_shape) == 1 else 1
        group.create_array("features", shape=(key.n_images, *item_shape), dtype="float16",
                           chunks=(min(chunk_rows, max(key.n_images, 1)), *item_shape),
                           compressors=compressors(), fill_value=0.0,
                           config={"write_empty_chunks": True}, dimension_names=_dims(item_shape))
        group.create_array("done", shape=(-(-key.n_images // unit_size),), dtype="uint8", chunks=(1,),
                           fill_value=0, config={"write_empty_chunks": True})
        group.attrs.update({
            "key": key.to_dict(), "digest": key.digest, "image_set": image_set, "unit_rows": unit_size,
            "complete": False, "ccbench_version": __version__, "torch_version": torch.__version__,
            "zarr_version": zarr.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        return cls(path, key, group, unit_size)

    @classmethod
    def _open(cls, path: Path, key: CacheKey | None) -> "FeatureStore":
        """Open a store and check that it records `key` (any key when None)."""
        try:
            group = zarr.open_group(zarr.storage.LocalStore(path), mode="r+", zarr_format=3)
            recorded = CacheKey(**group.attrs["key"])
            unit_size = int(group.attrs["unit_rows"])
            group["features"], group["done"]
        except Exception as error:
            raise CacheError(f"{path}: not a readable ccbench feature store ({type(error).__name__}); "
                             f"remove it with `ccbench cache rm {path.name.removesuffix('.zarr')}`") from None
        if key is not None and recorded != key:
            raise CacheKeyMismatch(f"{path}: records another key than the one requested; it is never read. "
                                   f"Remove it with `ccbench cache rm {path.name.removesuffix('.zarr')}`")
        if group.attrs.get("digest") != recorded.digest:
            raise CacheKeyMismatch(f"{path}: its recorded key does not hash to its digest; remove it with "
                                   f"`ccbench cache rm {path.name.removesuffix('.zarr')}`")
        return cls(path, recorded, group, unit_size)

    @classmethod
    def open_complete(cls, root: Path, key: CacheKey) -> "FeatureStore | None":
        """The finished store of `key`, or None when it is absent or unfinished."""
        path = cls.path_for(root, key)
        if not path.exists():
            return None
        store = cls._open(path, key)
        return store if store.complete else None

    @classmethod
    def open_path(cls, path: Path) -> "FeatureStore":
        """Open any store by path, whatever its key (for ls, verify and rm)."""
        return cls._open(path, None)

    def pending_units(self) -> list[int]:
        """Units whose commit flag is not set."""
        return [int(u) for u in np.flatnonzero(self.group["done"][:] == 0)]

    def unit_rows(self, unit: int) -> range:
        return range(unit * self.unit_size, min((unit + 1) * self.unit_size, self.key.n_images))

    def write_unit(self, unit: int, values: np.ndarray) -> None:
        """Write one unit's rows, then its flag: the flag is never set before the data is on disk."""
        rows = self.unit_rows(unit)
        if values.shape != (len(rows), *self.features.shape[1:]) or values.dtype != np.float16:
            raise ValueError(f"unit {unit} of {self.path}: got {values.dtype} {values.shape}")
        try:
            self.features[rows.start:rows.stop] = values
            self.group["done"][unit] = 1
        except OSError as error:
            raise disk_error(self.path, error) from None

    def mark_complete(self) -> None:
        if self.pending_units():
            raise CacheError(f"{self.path}: cannot mark complete with units pending")
        self.group.attrs.update({"complete": True})

    def iter_units(self) -> Iterator[tuple[range, np.ndarray]]:
        """Stream the rows unit by unit (flat memory); a damaged chunk raises CorruptChunk."""
        for unit in range(self.n_units):
            rows = self.unit_rows(unit)
            try:
                values = self.features[rows.start:rows.stop]
            except Exception as error:
                raise CorruptChunk(f"{self.path}: rows {rows.start}-{rows.stop - 1} fail to decode "
                                   f"({type(error).__name__}); run `ccbench cache rm {self.key.digest}` "
                                   "and extract again") from None
            yield rows, values

    def read_all(self) -> np.ndarray:
        """Every row, for small blocks (pooled vectors) that heads train on from memory."""
        out = np.empty(self.features.shape, dtype=np.float16)
        for rows, values in self.iter_units():
            out[rows.start:rows.stop] = values
        return out

    def verify(self) -> list[str]:
        """Problems found by reading every chunk: empty when the store is sound."""
        problems = []
        if not self.complete:
            problems.append(f"{len(self.pending_units())} of {self.n_units} units unfinished")
        try:
            for rows, values in self.iter_units():
                if not np.isfinite(values).all():
                    problems.append(f"non-finite values in rows {rows.start}-{rows.stop - 1}")
        except CorruptChunk as error:
            problems.append(str(error))
        return problems

    def nbytes_stored(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())


def _dims(item_shape: tuple[int, ...]) -> tuple[str, ...]:
    return ("n", "c", "h", "w")[: 1 + len(item_shape)]


def list_stores(root: Path) -> list[Path]:
    """Every store folder under the cache root."""
    return sorted((Path(root) / "features").glob("*/*.zarr"))


def find_stores(root: Path, prefix: str) -> list[Path]:
    """Stores whose digest starts with `prefix` (as `git` resolves short hashes)."""
    return [p for p in list_stores(root) if p.name.startswith(prefix)]


@dataclass(frozen=True)
class LabelKey:
    """Labels are stored apart from features, per task version and image set."""

    task: str
    task_version: int
    images: str

    @property
    def digest(self) -> str:
        return digest({"task": self.task, "task_version": self.task_version, "images": self.images})


def label_path(root: Path, key: LabelKey) -> Path:
    return Path(root) / "labels" / key.task / f"{key.digest}.npy"


def save_labels(root: Path, key: LabelKey, labels: np.ndarray) -> None:
    """Write atomically: a reader never sees a half-written label file."""
    path = label_path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    try:
        np.save(tmp, labels.astype(np.int64))
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise disk_error(path, error) from None


def load_labels(root: Path, key: LabelKey) -> np.ndarray | None:
    path = label_path(root, key)
    return np.load(path) if path.exists() else None
