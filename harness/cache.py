"""Zarr v3 feature stores: one per cache key, written in units with a commit flag per unit.

Layout of a store (a Zarr group at `<cache>/features/<d[:2]>/<d>.zarr`, d = the key's digest)::

    features  (N, C[, H, W]) float16, one shard file per unit (ShardingCodec): inner chunks of one
              image (spatial maps) or of the whole unit (pooled vectors), each Blosc zstd-1 + byte
              shuffle, then crc32c; the shard index carries its own crc32c
    done      (units,) uint8 in one chunk (+ crc32c): 1 once every row of the unit is written
    attrs     key (the full CacheKey), digest, image_set, unit_rows, complete, versions, created

A unit is at most MAX_UNIT_ROWS images and at most UNIT_BYTES of raw features, so an extraction
holds a bounded amount in memory whatever the block size (256 pooled vectors, 128 stem maps at
224 px). A store of N images holds ceil(N / unit) shard files plus four small ones (three
metadata documents and the flags): 10k images of stem..layer4 at 224 px take 298 files where one
file per image and block took 50,917 (bench/cache.py). CACHE_FORMAT 2 is this layout; stores of
format 1 (a file per image and a flag file per unit) have other keys and are never read.

What survives what:

- A store is built in a temporary folder beside its path and renamed into place whole, so a kill
  during creation leaves no half store in the way of the next run.
- Every writer holds the store's lock (`<d>.zarr.lock`, an OS lock that dies with its holder) from
  opening to closing, so a second process waits, then finds the units the first finished done;
  under the lock, the leftovers of dead writers (Zarr's `*.partial` files, creation folders) go.
- A unit's shard is written in one call, whole (Zarr rewrites a shard it is given in part, and two
  writers sharing a shard lose rows), then its flag: each through Zarr's atomic per-file writes,
  so a killed run leaves finished units intact and unfinished ones visibly undone. The flags
  share one small file, read, changed and replaced under its own short lock
  (`<d>.zarr.flags.lock`), so writers of disjoint units (torchrun ranks too) never lose each
  other's flags.
- On an object store (an fsspec URL as cache root, through zarr's FsspecStore) every file is one
  PUT, visible whole or not at all; a store is built in place with its key recorded last, so a
  half-built one is unreadable and built again; its lock is a lease object (harness.leases). With
  no OS lock for the flags there, the lease holder alone writes the flags file; another torchrun
  rank records its finished units in a file of its own (`flags.rank<r>.json` in the store), which
  the holder merges into the flags after the ranks' barrier, or on resuming after a kill.
- The crc32c codecs make a damaged or truncated shard fail loudly on read instead of decoding to
  wrong numbers; every inner chunk of a finished unit is written (write_empty_chunks), so an absent
  shard file, or a shard index lacking a chunk, is damage too, which Zarr alone would read as
  zeros: every read checks that the shards are there.
- Damaged units are named by rows and can be reset (`FeatureStore.repair`, `repairing`): their
  flags are cleared and their shards deleted, after which an extraction computes exactly them again.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import logging
import math
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import zarr
from filelock import FileLock, Timeout
from zarr.codecs import BloscCodec, Crc32cCodec

from harness import __version__
from harness.cache_key import CacheKey, digest
from harness.checked import is_sound, write_checked
from harness.errors import CacheError, CacheKeyMismatch, CorruptChunk
from harness.leases import Lease
from harness.shards import ChunkAbsent, Shard, ShardDamage, ShardFormat
from leaderboard.files import lock, remove_stale, temp_path
from leaderboard.locations import Location, Remote, location, write

log = logging.getLogger("ccbench")
T = TypeVar("T")

MAX_UNIT_ROWS = 256
"""Images per commit unit at most: what an interrupted extraction can lose. A power of two, so
every store's units (powers of two up to it) nest inside its boundaries."""

UNIT_BYTES = 256 << 20
"""Raw float16 bytes per unit at most: what the extraction buffers per block, and one shard file.
Chosen in bench/cache.py: 171x fewer files than a file per image on stem..layer4 (64 MiB gave
55x, 128 MiB 103x) at the same write and read speed; a five-map extraction then buffers about
0.8 GB per unit generation at 224 px."""

RANK_FLAGS = "flags.rank"
"""Name prefix of a rank's own flag file in a store on an object store (`flags.rank<r>.json`)."""

MISSING = "shard file missing"
INDEX_GAP = "shard index lacks an image"
REPAIR = "run `ccbench cache verify --repair` and rerun (only the damaged rows are extracted again)"
AGAIN = "extracting those rows again"


def reason(error: ShardDamage) -> str:
    """How damage of a shard or chunk reads in a report line."""
    return INDEX_GAP if isinstance(error, ChunkAbsent) else f"fails to decode ({error})"


def unit_rows_for(item_shape: tuple[int, ...], limit: int | None = None) -> int:
    """The largest power of two up to MAX_UNIT_ROWS whose unit stays within `limit` bytes
    (UNIT_BYTES unless given: bench/cache.py weighs other sizes)."""
    item_bytes = 2 * math.prod(item_shape)
    rows = MAX_UNIT_ROWS
    while rows > 1 and rows * item_bytes > (limit or UNIT_BYTES):
        rows //= 2
    return rows


def compressors() -> tuple[Any, ...]:
    """Chosen in bench/extract.py: 1.69x on all blocks, 9% below Blosc zstd-5 (1.86x) at 3.4x its
    encode speed, and the same ratio as the default zstd with faster encoding; crc32c catches damage."""
    return (BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"), Crc32cCodec())


def disk_error(path: Path, error: OSError) -> CacheError:
    """Turn a full disk or an unwritable folder into one line with the fix."""
    if error.errno == errno.ENOSPC:
        return CacheError(
            f"{path}: disk full while writing the cache; free space or set CCBENCH_CACHE to a "
            "larger disk and rerun (finished units are kept)"
        )
    return CacheError(
        f"{path}: cannot write the feature cache ({error.strerror or error}); check permissions or set CCBENCH_CACHE"
    )


@dataclass(frozen=True)
class Damage:
    """Rows of a finished store that cannot be trusted, and why."""

    rows: range
    reason: str

    def describe(self) -> str:
        return f"rows {self.rows.start}-{self.rows.stop - 1}: {self.reason}"


def describe(damage: list[Damage]) -> str:
    """The damaged ranges for one line: the first three, and how many more."""
    return "; ".join(d.describe() for d in damage[:3]) + (f"; and {len(damage) - 3} more" if len(damage) > 3 else "")


def merge(damage: list[Damage]) -> list[Damage]:
    """Adjacent damage of one kind as one range, so a lost folder of chunks is one line."""
    merged: list[Damage] = []
    for item in sorted(damage, key=lambda d: d.rows.start):
        last = merged[-1] if merged else None
        if last is not None and last.reason == item.reason and last.rows.stop == item.rows.start:
            merged[-1] = Damage(range(last.rows.start, item.rows.stop), item.reason)
        else:
            merged.append(item)
    return merged


def store_lock(path: Location, wait: bool = True) -> FileLock | Lease:
    """The lock of the store at `path`, acquired (the caller releases it): waiting, and saying so,
    while another process writes the store, or raising filelock.Timeout without `wait`. A store on
    an object store has a lease instead of an OS lock."""
    if isinstance(path, Remote):
        return Lease(path, wait)
    path.parent.mkdir(parents=True, exist_ok=True)
    held = lock(path.with_name(f"{path.name}.lock"))
    try:
        held.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise
        log.info("%s: another ccbench process is writing this store; waiting for it to finish", path)
        held.acquire()
    return held


def zarr_store(path: Location) -> zarr.abc.store.Store:
    """Zarr's store for a local folder or an fsspec URL."""
    if isinstance(path, Remote):
        return zarr.storage.FsspecStore.from_url(path.url)
    return zarr.storage.LocalStore(path)


def remove_tree(path: Location) -> None:
    if isinstance(path, Remote):
        path.fs.rm(path.key, recursive=True)
    else:
        shutil.rmtree(path)


@dataclass
class FeatureStore:
    """An opened store. Create or resume with `open_for_write` (which holds its lock until
    `close`), read with `open_complete`."""

    path: Location
    key: CacheKey
    group: zarr.Group
    unit_size: int
    held: FileLock | Lease | None = None
    rank: int | None = None
    """Set on a store another rank holds (`open_for_rank`): where, on an object store, this rank
    records its flags until the holder merges them."""
    ranked: set[int] = field(default_factory=set)
    """The units this rank recorded there."""

    @functools.cached_property
    def features(self) -> zarr.Array:
        """Opened once (each open reads metadata from disk) and set to write every chunk: Zarr keeps
        array configuration out of the metadata, so a reopened array would skip all-zero chunks
        (stem maps of a black image), whose absent files would then look like damage."""
        return self.group["features"].with_config({"write_empty_chunks": True})

    @property
    def n_units(self) -> int:
        return -(-self.key.n_images // self.unit_size)

    @property
    def complete(self) -> bool:
        return bool(self.group.attrs.get("complete", False))

    @staticmethod
    def path_for(root: Location, key: CacheKey) -> Location:
        return location(root) / key.relpath()

    @classmethod
    def open_for_write(cls, root: Path, key: CacheKey, item_shape: tuple[int, ...], image_set: str) -> FeatureStore:
        """Resume the store of `key`, or create it, holding its lock until `close`. Under the lock
        the leftovers of dead writers are removed, a store too damaged to open is built again, and
        finished units whose chunk files are missing are reset so they are extracted again."""
        path = cls.path_for(root, key)
        try:
            held = store_lock(path)
        except OSError as error:
            raise disk_error(path, error) from None
        try:
            if not isinstance(path, Remote):
                remove_stale(path.parent)
            store = cls._resume(path, key) if path.exists() else None
            if store is None:
                store = cls._create(path, key, item_shape, image_set)
        except BaseException as error:
            held.release()
            if isinstance(error, OSError):
                raise disk_error(path, error) from None
            raise
        store.held = held
        return store

    @classmethod
    def open_for_rank(cls, root: Path, key: CacheKey, rank: int) -> FeatureStore:
        """A store the coordinating rank holds for this run (it took the lock, mended leftovers and
        created or resumed the store): the other ranks write their own units into it unlocked."""
        store = cls._open(cls.path_for(root, key), key)
        store.rank = rank
        return store

    @classmethod
    def _resume(cls, path: Path, key: CacheKey) -> FeatureStore | None:
        """The store at `path` ready to write (None once an unreadable one is removed)."""
        try:
            store = cls._open(path, key)
        except CacheKeyMismatch:
            raise
        except CacheError as error:
            log.warning("ccbench: warning: %s; removed, it is extracted again", error)
            remove_tree(path)
            return None
        for leftover in [] if isinstance(path, Remote) else path.rglob("*.partial"):
            leftover.unlink(missing_ok=True)
        store.merge_rank_flags()
        missing = store.missing_units()
        if missing:
            lost = merge([Damage(store.unit_rows(unit), MISSING) for unit in missing])
            log.warning("ccbench: warning: %s: %s; %s", path, describe(lost), AGAIN)
            store.reset_units(missing)
        return store

    @classmethod
    def _create(cls, path: Path, key: CacheKey, item_shape: tuple[int, ...], image_set: str) -> FeatureStore:
        """Build the empty store in a temporary folder, then rename it into place whole; on an object
        store, which cannot rename a folder, in place, its key recorded last."""
        building = path if isinstance(path, Remote) else temp_path(path)
        try:
            group = zarr.open_group(zarr_store(building), mode="w", zarr_format=3)
            unit_size = unit_rows_for(item_shape)
            shard_rows = min(unit_size, max(key.n_images, 1))
            group.create_array(
                "features",
                shape=(key.n_images, *item_shape),
                dtype="float16",
                chunks=(shard_rows if len(item_shape) == 1 else 1, *item_shape),
                shards=(shard_rows, *item_shape),
                compressors=compressors(),
                fill_value=0.0,
                dimension_names=_dims(item_shape),
            )
            n_units = -(-key.n_images // unit_size)
            group.create_array(
                "done",
                shape=(n_units,),
                dtype="uint8",
                chunks=(max(n_units, 1),),
                compressors=Crc32cCodec(),
                fill_value=0,
            )
            group.attrs.update(
                {
                    "key": key.to_dict(),
                    "digest": key.digest,
                    "image_set": image_set,
                    "unit_rows": unit_size,
                    "complete": False,
                    "ccbench_version": __version__,
                    "torch_version": torch.__version__,
                    "zarr_version": zarr.__version__,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            )
            if building != path:
                os.rename(building, path)
        except BaseException:
            if building != path:
                shutil.rmtree(building, ignore_errors=True)
            raise
        return cls._open(path, key)

    @classmethod
    def _open(cls, path: Path, key: CacheKey | None) -> FeatureStore:
        """Open a store and check that it records `key` (any key when None)."""
        try:
            group = zarr.open_group(zarr_store(path), mode="r+", zarr_format=3)
            recorded = CacheKey(**group.attrs["key"])
            unit_size = int(group.attrs["unit_rows"])
            group["done"]
            ShardFormat.of(group["features"])
        except Exception as error:
            raise CacheError(
                f"{path}: not a readable ccbench feature store ({type(error).__name__}); "
                f"remove it with `ccbench cache rm {path.name.removesuffix('.zarr')}`"
            ) from None
        if key is not None and recorded != key:
            raise CacheKeyMismatch(
                f"{path}: records another key than the one requested; it is never read. "
                f"Remove it with `ccbench cache rm {path.name.removesuffix('.zarr')}`"
            )
        if group.attrs.get("digest") != recorded.digest:
            raise CacheKeyMismatch(
                f"{path}: its recorded key does not hash to its digest; remove it with "
                f"`ccbench cache rm {path.name.removesuffix('.zarr')}`"
            )
        return cls(path, recorded, group, unit_size)

    @classmethod
    def open_complete(cls, root: Path, key: CacheKey) -> FeatureStore | None:
        """The finished store of `key`, or None when it is absent or unfinished."""
        path = cls.path_for(root, key)
        if not path.exists():
            return None
        store = cls._open(path, key)
        return store if store.complete else None

    @classmethod
    def ready(cls, root: Path, key: CacheKey) -> bool:
        """Whether the store of `key` can be read as it is; False when it is absent, unfinished,
        unreadable or missing a chunk file of a finished unit, which `open_for_write` then mends."""
        path = cls.path_for(root, key)
        if not path.exists():
            return False
        try:
            store = cls._open(path, key)
        except CacheKeyMismatch:
            raise
        except CacheError:
            return False
        return store.complete and not store.missing_units()

    @classmethod
    def open_path(cls, path: Path) -> FeatureStore:
        """Open any store by path, whatever its key (for ls, verify and rm)."""
        return cls._open(location(path), None)

    @classmethod
    def repair(cls, path: Path, units: Iterable[int]) -> None:
        """Reset the commit flags of damaged units under the store's lock, so that the next
        extraction computes exactly them."""
        held = store_lock(path)
        try:
            cls.open_path(path).reset_units(sorted(units))
        finally:
            held.release()

    def close(self) -> None:
        """Release the write lock (readers take none: finished units change only when repaired)."""
        if self.held is not None:
            self.held.release()
            self.held = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pending_units(self) -> list[int]:
        """Units whose commit flag is not set."""
        return [int(u) for u in np.flatnonzero(self.group["done"][:] == 0)]

    def finished_units(self) -> list[int]:
        """Units whose rows must all be on disk: every unit of a complete store, else the flagged ones."""
        if self.complete:
            return list(range(self.n_units))
        return [int(u) for u in np.flatnonzero(self.group["done"][:] == 1)]

    def writer_group(self, unit: int) -> int:
        """The MAX_UNIT_ROWS-row range holding `unit`: units (powers of two up to MAX_UNIT_ROWS rows,
        fewer for large maps by UNIT_BYTES) nest in these ranges in every block's store, and a unit
        is one shard, so writers of different ranges share no file but the flags."""
        return unit * self.unit_size // MAX_UNIT_ROWS

    def unit_rows(self, unit: int) -> range:
        return range(unit * self.unit_size, min((unit + 1) * self.unit_size, self.key.n_images))

    def units_of(self, damage: Iterable[Damage]) -> tuple[int, ...]:
        """The units holding damaged rows."""
        return tuple(
            sorted(
                {
                    unit
                    for d in damage
                    for unit in range(d.rows.start // self.unit_size, (d.rows.stop - 1) // self.unit_size + 1)
                }
            )
        )

    def write_unit(self, unit: int, values: np.ndarray) -> None:
        """Write one unit's shard in one call, whole, then its flag: the flag is never set before
        the data is on disk."""
        rows = self.unit_rows(unit)
        if values.shape != (len(rows), *self.features.shape[1:]) or values.dtype != np.float16:
            raise ValueError(f"unit {unit} of {self.path}: got {values.dtype} {values.shape}")
        try:
            self.features[rows.start : rows.stop] = values
            self._set_flags([unit], 1)
        except OSError as error:
            raise disk_error(self.path, error) from None

    def _set_flags(self, units: list[int], value: int) -> None:
        """Change flags in their one file under the flags' lock: each writer reads, changes and
        atomically replaces the file, so writers of other units keep their flags. On an object
        store, with no lock to share, the lease holder alone writes that file and another rank
        writes its own (`rank_flags`), replaced whole by one PUT per unit."""
        if not isinstance(self.path, Remote):
            with lock(self.path.with_name(f"{self.path.name}.flags.lock")):
                self._change_flags(units, value)
        elif self.rank is None:
            self._change_flags(units, value)
        else:
            self.ranked = (self.ranked - set(units)) | (set(units) if value else set())
            write(self.path / f"{RANK_FLAGS}{self.rank}.json", json.dumps(sorted(self.ranked)))

    def _change_flags(self, units: list[int], value: int) -> None:
        done = self.group["done"]
        flags = done[:]
        flags[units] = value
        done[:] = flags

    def rank_flags(self) -> list[Remote]:
        """The flag files other ranks left in a store on an object store (none on a local disk)."""
        return self.path.glob(f"{RANK_FLAGS}*.json") if isinstance(self.path, Remote) else []

    def merge_rank_flags(self) -> None:
        """Set the flags the other ranks recorded in their own files, then remove those files (the
        caller holds the store's lease): after the ranks' barrier, or when resuming a killed run."""
        files = self.rank_flags()
        units = sorted({int(u) for f in files for u in json.loads(f.read_bytes())})
        if units:
            self._change_flags(units, 1)
        for f in files:
            f.unlink(missing_ok=True)

    def mark_complete(self) -> None:
        if self.pending_units():
            raise CacheError(f"{self.path}: cannot mark complete with units pending")
        try:
            self.group.attrs.update({"complete": True})
        except OSError as error:
            raise disk_error(self.path, error) from None

    def reset_units(self, units: list[int]) -> None:
        """Clear the flags of `units` and delete their shards (the caller holds the lock): the store
        is unfinished until an extraction has written them again, whole."""
        try:
            self.group.attrs.update({"complete": False})
            self._set_flags(units, 0)
            for unit in units:
                self.shard_file(unit).unlink(missing_ok=True)
        except OSError as error:
            raise disk_error(self.path, error) from None

    @functools.cached_property
    def layout(self) -> ShardFormat:
        return ShardFormat.of(self.features)

    def shard_file(self, unit: int) -> Location:
        """The unit's shard, named by the array's own chunk key encoding (`c/<unit>/0/...`)."""
        coords = (unit,) + (0,) * (self.features.ndim - 1)
        return self.path / self.features.path / self.features.metadata.encode_chunk_key(coords)

    def _shard(self, unit: int) -> Shard | Damage:
        """The unit's shard opened with its index checked, or the damage of all its rows."""
        try:
            return Shard(self.shard_file(unit), self.layout)
        except FileNotFoundError:
            return Damage(self.unit_rows(unit), MISSING)
        except ShardDamage as error:
            return Damage(self.unit_rows(unit), reason(error))

    def open_shard(self, unit: int) -> Shard:
        """The unit's shard opened; CorruptChunk naming its rows when the file is missing or its
        index is damaged."""
        shard = self._shard(unit)
        if isinstance(shard, Damage):
            raise self.corrupt([shard])
        return shard

    def _decode(self, shard: Shard, unit: int, chunk: int, out: np.ndarray) -> Damage | None:
        """Decode chunk `chunk` of the unit's shard into `out`; the damage of its rows when the
        chunk is absent or fails to decode."""
        try:
            shard.read_chunk(chunk, out)
        except ShardDamage as error:
            first = unit * self.unit_size + chunk * self.layout.chunk_rows
            return Damage(range(first, min(first + self.layout.chunk_rows, self.key.n_images)), reason(error))
        return None

    def read_rows(self, shard: Shard, unit: int, rows: Iterable[int], out: np.ndarray) -> None:
        """Decode `rows` of `unit` (a map store: one image per chunk), whose shard is open, into
        `out[k]` in turn; CorruptChunk naming the row whose chunk is absent or damaged."""
        start = unit * self.unit_size
        for k, row in enumerate(rows):
            if (damage := self._decode(shard, unit, row - start, out[k])) is not None:
                raise self.corrupt([damage])

    def _chunks_of(self, unit: int) -> int:
        return -(-len(self.unit_rows(unit)) // self.layout.chunk_rows)

    def read_unit(self, unit: int) -> np.ndarray:
        """A finished unit's rows; CorruptChunk naming the rows of a missing or damaged shard or
        chunk (never zeros for an image the shard lacks)."""
        size = self.layout.chunk_rows
        out = np.empty((self._chunks_of(unit) * size, *self.layout.item_shape), np.float16)
        with self.open_shard(unit) as shard:
            for chunk in range(self._chunks_of(unit)):
                if (damage := self._decode(shard, unit, chunk, out[chunk * size : (chunk + 1) * size])) is not None:
                    raise self.corrupt([damage])
        return out[: len(self.unit_rows(unit))]

    def missing_units(self) -> list[int]:
        """Finished units whose shard file is missing (Zarr would read those rows as zeros)."""
        return [unit for unit in self.finished_units() if not self.shard_file(unit).is_file()]

    def corrupt(self, damage: list[Damage]) -> CorruptChunk:
        """One error naming every damaged range of this store and its units, for `repair`."""
        damage = merge(damage)
        return CorruptChunk(f"{self.path}: {describe(damage)}; {REPAIR}", self.path, self.units_of(damage))

    def iter_units(self) -> Iterator[tuple[range, np.ndarray]]:
        """Stream the rows unit by unit (flat memory); a damaged chunk raises CorruptChunk."""
        for unit in range(self.n_units):
            yield self.unit_rows(unit), self.read_unit(unit)

    def read_all(self) -> np.ndarray:
        """Every row, for small blocks (pooled vectors) that heads train on from memory; when
        units are damaged, one CorruptChunk names them all, so one repair mends them."""
        out = np.empty(self.features.shape, dtype=np.float16)
        damage: list[Damage] = []
        for unit in range(self.n_units):
            rows = self.unit_rows(unit)
            try:
                out[rows.start : rows.stop] = self.read_unit(unit)
            except CorruptChunk:
                damage += self.damage([unit])
        if damage:
            raise self.corrupt(damage)
        return out

    def _unit_damage(self, unit: int) -> list[Damage]:
        """Every untrustworthy chunk of one unit: its shard missing or its index damaged (all its
        rows), else each chunk absent, failing to decode or holding NaN or infinity."""
        shard = self._shard(unit)
        if isinstance(shard, Damage):
            return [shard]
        found = []
        size = self.layout.chunk_rows
        out = np.empty((size, *self.layout.item_shape), np.float16)
        with shard:
            for chunk in range(self._chunks_of(unit)):
                if (damage := self._decode(shard, unit, chunk, out)) is not None:
                    found.append(damage)
                elif not np.isfinite(out[: len(self.unit_rows(unit)) - chunk * size]).all():
                    first = unit * self.unit_size + chunk * size
                    found.append(Damage(range(first, min(first + size, self.key.n_images)), "non-finite values"))
        return found

    def damage(self, units: Iterable[int] | None = None) -> list[Damage]:
        """Every untrustworthy chunk of the finished units (or of `units`), each named."""
        return merge(
            [d for unit in (self.finished_units() if units is None else units) for d in self._unit_damage(unit)]
        )

    def verify(self) -> list[str]:
        """Problems found by reading every chunk: empty when the store is sound."""
        problems = []
        if not self.complete:
            problems.append(f"{len(self.pending_units())} of {self.n_units} units unfinished")
        return problems + [d.describe() for d in self.damage()]

    def nbytes_stored(self) -> int:
        return store_usage(self.path)[0]


def store_usage(path: Location) -> tuple[int, float]:
    """(bytes stored, when last written as a POSIX time) of the store folder at `path`, readable or
    not: the newest modification time of its files and folders, so a store being extracted is young."""
    if isinstance(path, Remote):
        entries = path.fs.find(path.key, detail=True).values()
        return sum(int(e.get("size") or 0) for e in entries), max((modified(e) for e in entries), default=0.0)
    size, newest = 0, path.stat().st_mtime
    for entry in path.rglob("*"):
        try:
            info = entry.stat()
        except FileNotFoundError:  # a writer's temporary file, renamed meanwhile
            continue
        newest = max(newest, info.st_mtime)
        size += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return size, newest


def modified(entry: dict[str, Any]) -> float:
    """An fsspec listing entry's modification time: S3 names it LastModified, local and memory
    file systems mtime or created."""
    when = entry.get("LastModified") or entry.get("mtime") or entry.get("created") or 0.0
    return when.timestamp() if hasattr(when, "timestamp") else float(when)


def repairing(make: Callable[[], T]) -> T:
    """`make()`; when it meets damaged units of a store they are reset and `make()` runs again,
    which extracts exactly them (the same damage twice, or damage naming no store, is raised)."""
    repaired: set[tuple[Path, tuple[int, ...]]] = set()
    while True:
        try:
            return make()
        except CorruptChunk as damage:
            if damage.path is None or (damage.path, damage.units) in repaired:
                raise
            log.warning("ccbench: warning: %s; %s", str(damage).removesuffix(f"; {REPAIR}"), AGAIN)
            FeatureStore.repair(damage.path, damage.units)
            repaired.add((damage.path, damage.units))


def _dims(item_shape: tuple[int, ...]) -> tuple[str, ...]:
    return ("n", "c", "h", "w")[: 1 + len(item_shape)]


def list_stores(root: Location) -> list[Location]:
    """Every store folder under the cache root."""
    root = location(root)
    if isinstance(root, Remote):
        return [Remote(f"{root.protocol}://{key}") for key in sorted(root.fs.glob(f"{root.key}/features/*/*.zarr"))]
    return sorted((root / "features").glob("*/*.zarr"))


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


def label_path(root: Location, key: LabelKey) -> Location:
    return location(root) / "labels" / key.task / f"{key.digest}.npy"


def save_npy(array: np.ndarray) -> Callable[[Path], None]:
    """A `write_checked` filler saving `array` as .npy (np.save on a name would append `.npy`)."""

    def fill(tmp: Path) -> None:
        with open(tmp, "xb") as out:
            np.save(out, array)

    return fill


def save_labels(root: Path, key: LabelKey, labels: np.ndarray) -> None:
    """Write whole with its checksum: a reader never sees a half-written or altered label file."""
    path = label_path(root, key)
    try:
        write_checked(path, save_npy(labels.astype(np.int64)))
    except OSError as error:
        raise disk_error(path, error) from None


def load_labels(root: Path, key: LabelKey) -> np.ndarray | None:
    """The recorded labels; None when absent or unrecorded (write them again from the reader). A
    changed or truncated file is refused with one line."""
    path = label_path(root, key)
    return np.load(io.BytesIO(path.read_bytes())) if is_sound(path) else None
