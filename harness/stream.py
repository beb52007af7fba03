"""Feature maps streamed from their Zarr stores with read-ahead, for heads whose inputs do not fit
in memory (the five maps of a 224 image take 4.6 MB).

Batches are read by a small thread pool several batches ahead of the one training, so decoding
overlaps the head's compute; memory holds at most `depth` batches, whatever the split's size. Rows
are read as per-image basic slices (one chunk each), the fast path on unsharded Zarr 3 arrays.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator

import numpy as np
import torch

from harness.cache import FeatureStore
from harness.errors import CorruptChunk


class StreamedFeatures:
    """Blocks read batch by batch from complete stores; with `samples` ((S, N) frame indices) a row
    is a multi-frame sample and each block comes back as (B, N, C, H, W)."""

    def __init__(self, stores: dict[str, FeatureStore], device: str = "cpu", samples: torch.Tensor | None = None,
                 workers: int = 4, depth: int = 4) -> None:
        self.stores, self.device, self.samples = stores, torch.device(device), samples
        self.workers, self.depth = workers, depth
        self.bytes_read = 0

    def _read(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        index = rows if self.samples is None else self.samples[rows]
        images, inverse = np.unique(index.numpy(), return_inverse=True)
        out = {}
        for name, store in self.stores.items():
            try:
                values = np.stack([store.features[int(image)] for image in images])
            except Exception as error:
                raise CorruptChunk(f"{store.path}: an image among rows {images[0]}-{images[-1]} fails to decode "
                                   f"({type(error).__name__}); run `ccbench cache verify` and extract again") from None
            self.bytes_read += values.nbytes
            block = torch.from_numpy(values)[torch.from_numpy(inverse.reshape(-1))]
            out[name] = block.reshape(*index.shape, *block.shape[1:])
        return out

    def _to_device(self, blocks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device.type == "cuda":
            blocks = {name: values.pin_memory() for name, values in blocks.items()}
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
