"""A feature store's shard files read directly: the index Zarr's ShardingCodec puts at a shard's end
and the inner chunks it points to, checked and decoded off Zarr's event loop.

Why not through Zarr: zarr 3.1 reads one image of a sharded array by building codec pipelines and
fetching the shard index on its event loop for every image, and reports an image the index lacks
as zeros; here a reader opens the shard once, reads its index once, and decompresses each chunk
straight into the caller's (possibly pinned) buffer on its own thread, with every damage named
(bench/cache.py measures both paths). Only the codec chain stores are created with is accepted.
A shard on an object store is read the same way, by ranged GETs of its index and chunks.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numcodecs.blosc
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ShardingCodec
from zarr.codecs.sharding import ShardingCodecIndexLocation

from leaderboard.locations import Location, Remote

BLOSC_HEADER = 16
"""Bytes of a Blosc frame's header; bytes 4-8 hold the decompressed size."""

EMPTY = 2**64 - 1
"""An index entry of a chunk the shard does not hold (offset and length both)."""


class ShardDamage(ValueError):
    """A shard or one of its chunks cannot be trusted; the message says why, in a few words."""


class ChunkAbsent(ShardDamage):
    """The shard's index has no entry for a chunk every finished shard holds."""


@dataclass(frozen=True)
class ShardFormat:
    """What reading a store's shards takes, from its array's metadata."""

    chunk_rows: int
    chunks_per_shard: int
    item_shape: tuple[int, ...]

    @classmethod
    def of(cls, array: zarr.Array) -> ShardFormat:
        """The layout of `array`; ValueError unless it is sharded along rows only, with the index
        (+ crc32c) at the end and inner chunks of bytes, Blosc, crc32c, as stores are created."""
        codecs = array.metadata.codecs
        sharding = codecs[0] if len(codecs) == 1 else None
        if not (
            isinstance(sharding, ShardingCodec)
            and sharding.index_location == ShardingCodecIndexLocation.end
            and [type(c) for c in sharding.index_codecs] == [BytesCodec, Crc32cCodec]
            and [type(c) for c in sharding.codecs] == [BytesCodec, BloscCodec, Crc32cCodec]
            and array.dtype == np.float16
            and tuple(array.chunks[1:]) == tuple(array.shape[1:]) == tuple(array.shards[1:])
        ):
            raise ValueError(f"{array.path}: not sharded along rows with the store's codecs")
        return cls(array.chunks[0], array.shards[0] // array.chunks[0], tuple(array.shape[1:]))

    @property
    def index_nbytes(self) -> int:
        return 16 * self.chunks_per_shard + 4

    @property
    def chunk_nbytes(self) -> int:
        return 2 * self.chunk_rows * math.prod(self.item_shape)


def checked(raw: bytes, what: str) -> np.ndarray:
    """`raw` without its trailing crc32c, which must match (a view: chunks are not copied)."""
    body = np.frombuffer(raw, np.uint8)[:-4]
    if len(raw) < 4 or google_crc32c.value(body) != int.from_bytes(raw[-4:], "little"):
        raise ShardDamage(f"{what} fails its checksum")
    return body


class LocalFile:
    """A shard on a local disk, read by offset from one descriptor."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)  # FileNotFoundError: the caller names the missing shard
        self.size = os.fstat(self.fd).st_size

    def pread(self, length: int, offset: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        os.close(self.fd)


class RemoteFile:
    """A shard on an object store (leaderboard.locations.Remote), read by ranged GETs: a reader of
    a few images fetches their chunks and the index, never the whole shard."""

    def __init__(self, path: Remote) -> None:
        self.fs, self.key = path.fs, path.key
        self.size = int(self.fs.size(self.key))  # FileNotFoundError: the caller names the missing shard

    def pread(self, length: int, offset: int) -> bytes:
        return self.fs.cat_file(self.key, start=offset, end=offset + length)

    def close(self) -> None:
        pass


class Shard:
    """One open shard file: its index read and checked once, its chunks read on demand."""

    def __init__(self, path: Location, layout: ShardFormat) -> None:
        self.layout = layout
        self.file = RemoteFile(path) if isinstance(path, Remote) else LocalFile(path)
        try:
            size = self.file.size
            if size < layout.index_nbytes:
                raise ShardDamage("shard shorter than its index")
            raw = self.file.pread(layout.index_nbytes, size - layout.index_nbytes)
            self.index = np.frombuffer(checked(raw, "shard index"), "<u8").reshape(-1, 2)
            held = self.index[:, 0] != EMPTY
            if (self.index[held].sum(axis=1) > size - layout.index_nbytes).any():
                raise ShardDamage("shard index points past the shard's end")
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Shard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_chunk(self, chunk: int, out: np.ndarray) -> None:
        """Decode inner chunk `chunk` into `out` (float16, the chunk's shape, C-contiguous)."""
        offset, length = (int(v) for v in self.index[chunk])
        if offset == EMPTY:
            raise ChunkAbsent("shard index lacks the chunk")
        body = checked(self.file.pread(length, offset), "chunk")
        if len(body) < BLOSC_HEADER or int.from_bytes(body[4:8].tobytes(), "little") != self.layout.chunk_nbytes:
            raise ShardDamage("chunk holds another size than an image's")
        try:
            numcodecs.blosc.decompress(body, out)
        except (RuntimeError, ValueError) as error:
            raise ShardDamage(f"chunk fails to decompress ({error})") from None
