"""Where heads get encoder features: every `FeatureSource` in one place.

- `InMemoryFeatures`: cached blocks loaded once (pooled vectors, and dense maps that fit the
  memory budget);
- `StreamedFeatures`: maps read from their Zarr stores batch by batch with read-ahead, for splits
  whose maps do not fit in memory (the five maps of a 224 image take 4.6 MB). Batches are read by
  a small thread pool several batches ahead of the one training, so decoding overlaps the head's
  compute; memory holds at most `depth` batches. Each image is one inner chunk of its unit's
  shard, read and decompressed by harness.shards straight into the batch's buffer (pinned for a
  GPU) on the pool's threads, each shard opened once per batch: bench/cache.py measures this
  against Zarr's own per-image reads gathered on its event loop;
- `EncoderFeatures`, `LoopFeatures`: the encoder in the loop, on images decoded every batch (the
  reference the cache must match, and crops drawn fresh every epoch) or on the uint8 inputs
  `DecodedInputs` keeps in the cache (the planner's other mode for resized tasks);
- `FullResolutionFeatures`: whole test images at their own size, for crop-trained dense heads.

All give the same batches in the same order for the same rows, so heads trained on them differ
only by float16 rounding.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from encoders import Preprocessing, ResNet50Trunk
from harness.arrays import cached_array, take_rows
from harness.cache import FeatureStore
from harness.cache_key import digest
from leaderboard.locations import location
from tasks.readers import DenseReader, Reader

INPUTS_FORMAT = 1
"""Bumped when the decoded-input files change layout, so old ones are never read."""


def read_images(store: FeatureStore, images: np.ndarray, out: np.ndarray) -> None:
    """Decode `images` (any order, repeats allowed) of a map store into `out[k]`, opening each
    unit's shard once; CorruptChunk names the rows of a missing or damaged shard or chunk."""
    units = images // store.unit_size
    first: dict[int, int] = {}
    for unit in np.unique(units):
        with store.open_shard(int(unit)) as shard:
            for k in np.flatnonzero(units == unit):
                image = int(images[k])
                if image in first:
                    out[k] = out[first[image]]
                    continue
                store.read_rows(shard, int(unit), [image], out[k : k + 1])
                first[image] = k


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


def read_ahead(
    row_batches: Iterable[torch.Tensor],
    fetch: Callable[[torch.Tensor], Any],
    finish: Callable[[Any], dict[str, torch.Tensor]],
    workers: int,
    depth: int,
    name: str,
) -> Iterator[dict[str, torch.Tensor]]:
    """`finish(fetch(rows))` of each batch in order, `fetch` running on `workers` threads up to
    `depth` batches ahead of the consumer (decoding and decompression release the GIL)."""
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        for rows in row_batches:
            pending.append(pool.submit(fetch, rows))
            if len(pending) >= depth:
                yield finish(pending.popleft().result())
        while pending:
            yield finish(pending.popleft().result())


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
    """The encoder in the loop on images decoded from a reader for every batch: the reference the
    cache must match, and how crop tasks train on a fresh crop every epoch (the reader cuts the
    view from the dataset image). With `samples` ((S, N) frame indices) a row is a multi-frame
    sample. `workers` threads decode the next batches while one is encoded."""

    def __init__(
        self,
        trunk: ResNet50Trunk,
        reader: Reader,
        preprocessing: Preprocessing,
        blocks: Sequence[str],
        device: str = "cpu",
        samples: torch.Tensor | None = None,
        bf16: bool = False,
        workers: int | None = None,
    ) -> None:
        self.trunk, self.reader, self.preprocessing = trunk.to(device).eval(), reader, preprocessing
        self.blocks, self.device, self.samples, self.bf16 = tuple(blocks), device, samples, bf16
        self.workers = workers or min(8, os.cpu_count() or 1)

    def _decode(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = rows if self.samples is None else self.samples[rows]
        images, inverse = torch.unique(index, return_inverse=True)
        pixels = torch.stack([self.preprocessing(self.reader.image(int(image))) for image in images])
        return index, inverse, pixels

    def _encode(self, decoded: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        index, inverse, pixels = decoded
        with torch.no_grad(), precision(self.device, self.bf16):
            blocks = self.trunk(pixels.to(self.device), self.blocks)
        return _stack_frames(index, {name: values.float() for name, values in blocks.items()}, inverse)

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._encode(self._decode(rows))

    def batches(self, row_batches: Iterable[torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Each batch's features, in order, its images decoded up to `workers` batches ahead."""
        return read_ahead(row_batches, self._decode, self._encode, self.workers, self.workers + 1, "ccbench-decode")


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
        if any(store.layout.chunk_rows != 1 for store in stores.values()):
            raise ValueError("streamed features read map stores (one image per chunk), not pooled vectors")
        self.stores, self.device, self.samples = stores, torch.device(device), samples
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.depth = depth or 2 * self.workers
        self.pinned = self.device.type == "cuda"
        self.bytes_read = 0

    def _read(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        index = rows if self.samples is None else self.samples[rows]
        images = index.reshape(-1).numpy()
        out = {}
        for name, store in self.stores.items():
            block = torch.empty((len(images), *store.layout.item_shape), dtype=torch.float16, pin_memory=self.pinned)
            read_images(store, images, block.numpy())
            self.bytes_read += 2 * block.numel()
            out[name] = block.reshape(*index.shape, *block.shape[1:])
        return out

    def _to_device(self, blocks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """float16 across (half the bytes of float32), from pinned memory without waiting on a GPU."""
        return {name: values.to(self.device, non_blocking=True).float() for name, values in blocks.items()}

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._to_device(self._read(rows))

    def batches(self, row_batches: Iterable[torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Each batch's blocks, in order, read `depth` batches ahead on the pool's threads."""
        return read_ahead(row_batches, self._read, self._to_device, self.workers, self.depth, "ccbench-read")


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
