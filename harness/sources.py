"""Where heads get encoder features: every `FeatureSource` in one place.

- `InMemoryFeatures`: cached blocks loaded once (pooled vectors, and dense maps that fit the
  memory budget);
- `StreamedFeatures`: maps read from their Zarr stores batch by batch with read-ahead, for splits
  whose maps do not fit in memory (the five maps of a 224 image take 4.6 MB). Batches are read by
  a small thread pool several batches ahead of the one training, so decoding overlaps the head's
  compute; memory holds at most `depth` batches. Rows are read as per-image basic slices (one chunk
  each), the fast path on unsharded Zarr 3 arrays, all of a batch's reads gathered concurrently;
- `EncoderFeatures`, `LoopFeatures`: the encoder in the loop, on decoded images or on the uint8
  inputs `DecodedInputs` keeps in the cache (the reference the cache must match, and the planner's
  other mode);
- `FullResolutionFeatures`: whole test images at their own size, for crop-trained dense heads.

All give the same batches in the same order for the same rows, so heads trained on them differ
only by float16 rounding.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from zarr.core.sync import sync

from encoders import Preprocessing, ResNet50Trunk
from harness.arrays import cached_array, take_rows
from harness.cache import FeatureStore
from harness.cache_key import digest
from harness.errors import CorruptChunk
from leaderboard.locations import location
from tasks.readers import DenseReader, Reader

INPUTS_FORMAT = 1
"""Bumped when the decoded-input files change layout, so old ones are never read."""

READ_CONCURRENCY = 64
"""zarr's cap on concurrent chunk reads, raised from its default 10 for this process: a batch of 16
images x 5 blocks is 80 reads, and the cap, not the disk, limited throughput (277 -> 400 MB/s on
two cores)."""


async def _gather(arrays: dict[str, Any], images: np.ndarray) -> dict[str, np.ndarray]:
    """Every image of every block as one set of concurrent chunk reads on zarr's event loop, which
    decodes them on its thread pool."""
    reads = [array.getitem(int(image)) for array in arrays.values() for image in images]
    values = await asyncio.gather(*reads)
    return {name: np.stack(values[k * len(images) : (k + 1) * len(images)]) for k, name in enumerate(arrays)}


def precision(device: str, bf16: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on a CUDA device when asked (dense heads), else full float32."""
    if bf16 and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _stack_frames(
    index: torch.Tensor, blocks: dict[str, torch.Tensor], inverse: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-image blocks -> per-row blocks, (B, N, ...) for multi-frame rows."""
    return {
        name: values[inverse.reshape(-1)].reshape(*index.shape, *values.shape[1:]) for name, values in blocks.items()
    }


class FeatureSource:
    """Rows of encoder features, addressed by image (or sample) index."""

    index_device = torch.device("cpu")
    """Where row indices are best given: the device of features held there (training then moves
    no indices per step), else the host, where readers index files."""

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def batches(self, row_batches: Iterable[torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """The features of each batch in turn; sources that read from disk override it to read ahead."""
        for rows in row_batches:
            yield self.batch(rows)


class InMemoryFeatures(FeatureSource):
    """Cached blocks loaded once: epochs then run at memory speed.

    Values stay float16 (half the memory; the cache holds nothing finer) and each batch is
    converted to float32 on the training device. On a GPU the blocks live in its memory when they
    fit in 80% of what is free, else in host memory with batches copied over. With `samples`
    ((S, N) frame indices) a row is a multi-frame sample and each block comes back as (B, N, ...),
    frames in time order; the frames themselves are held once each.
    """

    def __init__(
        self, blocks: dict[str, torch.Tensor], device: str = "cpu", samples: torch.Tensor | None = None
    ) -> None:
        self.device = torch.device(device)
        nbytes = sum(2 * values.numel() for values in blocks.values())
        storage = (
            self.device
            if self.device.type != "cuda" or nbytes < 0.8 * torch.cuda.mem_get_info(self.device)[0]
            else torch.device("cpu")
        )
        self.blocks = {name: values.to(device=storage, dtype=torch.float16) for name, values in blocks.items()}
        self.samples = None if samples is None else samples.to(storage)
        self.index_device = storage

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        storage = next(iter(self.blocks.values())).device
        index = rows.to(storage)
        if self.samples is not None:
            index = self.samples[index]
        return {
            name: values[index].to(self.device, torch.float32, non_blocking=True)
            for name, values in self.blocks.items()
        }


class EncoderFeatures(FeatureSource):
    """The encoder in the loop: decode, preprocess and encode the requested images every time."""

    def __init__(
        self,
        trunk: ResNet50Trunk,
        reader: Reader,
        preprocessing: Preprocessing,
        blocks: Sequence[str],
        device: str = "cpu",
    ) -> None:
        self.trunk, self.reader, self.preprocessing = trunk.to(device), reader, preprocessing
        self.blocks, self.device = tuple(blocks), device

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        images = torch.stack([self.preprocessing(self.reader.image(int(row))) for row in rows])
        return self.trunk(images.to(self.device), self.blocks)


class StreamedFeatures(FeatureSource):
    """Blocks read batch by batch from complete stores; with `samples` ((S, N) frame indices) a row
    is a multi-frame sample and each block comes back as (B, N, C, H, W). Decoding releases the GIL,
    so `workers` threads (default: up to 8 cores) decode batches in parallel, `depth` ahead."""

    def __init__(
        self,
        stores: dict[str, FeatureStore],
        device: str = "cpu",
        samples: torch.Tensor | None = None,
        workers: int | None = None,
        depth: int | None = None,
    ) -> None:
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
            raise CorruptChunk(
                f"{paths}: an image among rows {images[0]}-{images[-1]} fails to read "
                f"({type(error).__name__}); run `ccbench cache verify --repair` and rerun"
            ) from None
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


class DecodedInputs:
    """A split's images decoded, resized and stored once as uint8 (N, 3, H, W) in the cache: what the
    encoder-in-the-loop mode feeds on, so no epoch decodes a JPEG again (150 kB per 224 image)."""

    def __init__(self, cache_root: Path, reader: DenseReader, preprocessing: Preprocessing, advance=None) -> None:
        key = digest(
            {"format": INPUTS_FORMAT, "manifest": reader.manifest_digest, "preprocessing": preprocessing.key()}
        )
        self.preprocessing = preprocessing
        self.array = cached_array(
            location(cache_root) / "inputs" / key[:2] / f"{key}.npy",
            np.uint8,
            (len(reader), 3, *preprocessing.size),
            lambda index: preprocessing.resize_uint8(reader.image(index)),
            advance,
        )

    def images(self, index: torch.Tensor) -> torch.Tensor:
        return take_rows(self.array, index)


class LoopFeatures(FeatureSource):
    """The encoder run on every batch, from decoded inputs (training in `loop` mode)."""

    def __init__(
        self,
        trunk: ResNet50Trunk,
        inputs: DecodedInputs,
        blocks: Sequence[str],
        device: str = "cpu",
        samples: torch.Tensor | None = None,
        bf16: bool = False,
    ) -> None:
        self.trunk, self.inputs, self.blocks = trunk.to(device).eval(), inputs, tuple(blocks)
        self.device, self.samples, self.bf16 = device, samples, bf16

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        index = rows if self.samples is None else self.samples[rows]
        images, inverse = torch.unique(index, return_inverse=True)
        pixels = self.inputs.images(images).to(self.device, non_blocking=True)
        with torch.no_grad(), precision(self.device, self.bf16):
            blocks = self.trunk(self.inputs.preprocessing.normalize(pixels), self.blocks)
        return _stack_frames(index, {name: values.float() for name, values in blocks.items()}, inverse)


class FullResolutionFeatures(FeatureSource):
    """The encoder on whole test images at their own size (one sample per batch), for crop-trained
    heads: features never cached, each image encoded once for all the heads scored together."""

    def __init__(
        self,
        trunk: ResNet50Trunk,
        reader: DenseReader,
        preprocessing: Preprocessing,
        blocks: Sequence[str],
        device: str = "cpu",
        samples: torch.Tensor | None = None,
        bf16: bool = False,
    ) -> None:
        self.trunk, self.reader, self.preprocessing = trunk.to(device).eval(), reader, preprocessing
        self.blocks, self.device, self.samples, self.bf16 = tuple(blocks), device, samples, bf16

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        index = rows if self.samples is None else self.samples[rows]
        images, inverse = torch.unique(index, return_inverse=True)
        decoded = [self.reader.image(int(image)) for image in images]
        sizes = {pixels.shape[:2] for pixels in decoded}
        if len(sizes) != 1:
            raise ValueError(f"full-resolution batch mixes image sizes {sorted(sizes)}; score one sample at a time")
        native = Preprocessing(
            size=tuple(decoded[0].shape[:2]),
            interpolation=self.preprocessing.interpolation,
            mean=self.preprocessing.mean,
            std=self.preprocessing.std,
        )
        with torch.no_grad(), precision(self.device, self.bf16):
            blocks = self.trunk(native.batch(np.stack(decoded)).to(self.device), self.blocks)
        return _stack_frames(index, {name: values.float() for name, values in blocks.items()}, inverse)
