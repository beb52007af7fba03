"""Feature maps streamed from their Zarr stores with read-ahead, for heads whose inputs do not fit
in memory (the five maps of a 224 image take 4.6 MB).

Batches are read by a small thread pool several batches ahead of the one training, so decoding
overlaps the head's compute; memory holds at most `depth` batches, whatever the split's size. Rows
are read as per-image basic slices (one chunk each), the fast path on unsharded Zarr 3 arrays, all
of a batch's reads gathered concurrently.
"""
from __future__ import annotations

import asyncio
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterable, Iterator

import numpy as np
import torch
import zarr
from zarr.core.sync import sync

from harness.cache import FeatureStore
from harness.errors import CorruptChunk
from harness.train import FeatureSource

READ_CONCURRENCY = 64
"""zarr's cap on concurrent chunk reads, raised from its default 10 for this process: a batch of 16
images x 5 blocks is 80 reads, and the cap, not the disk, limited throughput (277 -> 400 MB/s on
two cores)."""


async def _gather(arrays: dict[str, Any], images: np.ndarray) -> dict[str, np.ndarray]:
    """Every image of every block as one set of concurrent chunk reads on zarr's event loop, which
    decodes them on its thread pool."""
    reads = [array.getitem(int(image)) for array in arrays.values() for image in images]
    values = await asyncio.gather(*reads)
    return {name: np.stack(values[k * len(images):(k + 1) * len(images)]) for k, name in enumerate(arrays)}


class StreamedFeatures(FeatureSource):
    """Blocks read batch by batch from complete stores; with `samples` ((S, N) frame indices) a row
    is a multi-frame sample and each block comes back as (B, N, C, H, W). Decoding releases the GIL,
    so `workers` threads (default: up to 8 cores) decode batches in parallel, `depth` ahead."""

    def __init__(self, stores: dict[str, FeatureStore], device: str = "cpu", samples: torch.Tensor | None = None,
                 workers: int | None = None, depth: int | None = None) -> None:
        self.stores, self.device, self.samples = stores, torch.device(device), samples
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.depth = depth or 2 * self.workers
        if zarr.config.get("async.concurrency") < READ_CONCURRENCY:
            zarr.config.set({"async.concurrency": READ_CONCURRENCY})
        self.bytes_read = 0

    def _read(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        index = rows if self.samples is None else self.samples[rows]
        images, inverse = np.unique(index.numpy(), return_inverse=True)
        for store in self.stores.values():
            store.check_rows(images)  # an absent chunk would read as zeros
        try:
            values = sync(_gather({name: store.features.async_array for name, store in self.stores.items()}, images))
        except Exception as error:
            for store in self.stores.values():
                store.check_rows(images, decode=True)
            paths = ", ".join(str(store.path) for store in self.stores.values())
            raise CorruptChunk(f"{paths}: an image among rows {images[0]}-{images[-1]} fails to read "
                               f"({type(error).__name__}); run `ccbench cache verify --repair` and rerun") from None
        out = {}
        for name, block in values.items():
            self.bytes_read += block.nbytes
            picked = torch.from_numpy(block)[torch.from_numpy(inverse.reshape(-1))]
            out[name] = picked.reshape(*index.shape, *picked.shape[1:])
        return out

    def _to_device(self, blocks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: values.to(self.device, torch.float32, non_blocking=True) for name, values in blocks.items()}

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._to_device(self._read(rows))

    def batches(self, row_batches: Iterable[torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Each batch's blocks, in order, read `depth` batches ahead on the pool's threads."""
        pending: deque[Future] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ccbench-read") as pool:
            for rows in row_batches:
                pending.append(pool.submit(self._read, rows))
                if len(pending) >= self.depth:
                    yield self._to_device(pending.popleft().result())
            while pending:
                yield self._to_device(pending.popleft().result())
