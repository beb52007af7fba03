"""Run a frozen encoder once over an image set and stream its blocks into feature stores.

The encoder computes while a writer thread compresses and writes the previous unit, so the
cache costs little over a plain forward; only units without a commit flag are computed, so an
interrupted run resumes where it stopped. Memory holds one unit per block at a time.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from encoders import Preprocessing, ResNet50Trunk
from harness.cache import FeatureStore
from harness.errors import NonFiniteFeatures
from tasks.readers import Reader

log = logging.getLogger(__name__)
FLOAT16_MAX = float(np.finfo(np.float16).max)


class ImageDataset(Dataset):
    """Decoded, preprocessed images of a reader at the given indices (decoding runs in workers)."""

    def __init__(self, reader: Reader, indices: Sequence[int], preprocessing: Preprocessing) -> None:
        self.reader, self.indices, self.preprocessing = reader, list(indices), preprocessing

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor]:
        index = self.indices[position]
        return index, self.preprocessing(self.reader.image(index))


def image_loader(reader: Reader, indices: Sequence[int], preprocessing: Preprocessing, batch_size: int,
                 workers: int) -> DataLoader:
    """Batches in index order; workers decode while the encoder runs."""
    return DataLoader(ImageDataset(reader, indices, preprocessing), batch_size=batch_size, shuffle=False,
                      num_workers=workers, persistent_workers=False, prefetch_factor=4 if workers else None)


def check_finite(block: str, values: torch.Tensor, ids: Sequence[str], image_set: str) -> None:
    """Refuse NaN, infinity or float16 overflow, naming the first offending image."""
    bad = ~torch.isfinite(values) | (values.abs() > FLOAT16_MAX)
    if bad.any():
        row = int(bad.flatten(1).any(dim=1).nonzero()[0])
        raise NonFiniteFeatures(f"{image_set}: encoder block {block} is NaN, infinite or beyond float16 on image "
                                f"{ids[row]}; the checkpoint's weights are likely broken (check it with "
                                "`ccbench inspect`)")


@dataclass
class ExtractStats:
    images: int = 0
    seconds: float = 0.0


class _UnitWriter:
    """A background thread that writes whole units, so compression overlaps the next forward."""

    def __init__(self, stores: dict[str, FeatureStore]) -> None:
        self.stores = stores
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ccbench-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            unit, blocks = item
            if self.error is not None:
                continue
            try:
                for name, values in blocks.items():
                    self.stores[name].write_unit(unit, values)
            except BaseException as error:  # re-raised in the caller's thread
                self.error = error

    def put(self, unit: int, blocks: dict[str, np.ndarray]) -> None:
        self.raise_pending()
        self.queue.put((unit, blocks))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.raise_pending()

    def raise_pending(self) -> None:
        if self.error is not None:
            raise self.error


def extract(trunk: ResNet50Trunk, reader: Reader, preprocessing: Preprocessing, stores: dict[str, FeatureStore],
            image_set: str, batch_size: int = 64, device: str = "cpu", workers: int = 0,
            progress: Callable[[int], None] | None = None) -> ExtractStats:
    """Fill every pending unit of `stores` (block name -> store, all over `reader`'s images)."""
    pending_by_block = {name: set(store.pending_units()) for name, store in stores.items()}
    units = sorted(set().union(*pending_by_block.values()))
    stats = ExtractStats()
    start = time.perf_counter()
    if units:
        layout = next(iter(stores.values()))
        indices = [row for unit in units for row in layout.unit_rows(unit)]
        ids = reader.sample_ids()
        trunk = trunk.to(device)
        writer = _UnitWriter(stores)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in stores}
        buffered = 0
        queue_of_units = iter(units)
        unit = next(queue_of_units)
        try:
            for batch_indices, images in image_loader(reader, indices, preprocessing, batch_size, workers):
                outputs = trunk(images.to(device, non_blocking=True), tuple(stores))
                batch_ids = [ids[int(i)] for i in batch_indices]
                for name in stores:
                    values = outputs[name].float()
                    check_finite(name, values, batch_ids, image_set)
                    parts[name].append(values.to("cpu", torch.float16).numpy())
                buffered += len(batch_indices)
                while unit is not None and buffered >= len(layout.unit_rows(unit)):
                    size = len(layout.unit_rows(unit))
                    blocks = {}
                    for name in stores:
                        joined = np.concatenate(parts[name])
                        parts[name] = [joined[size:]]
                        if unit in pending_by_block[name]:
                            blocks[name] = joined[:size]
                    writer.put(unit, blocks)
                    buffered -= size
                    unit = next(queue_of_units, None)
                stats.images += len(batch_indices)
                if progress is not None:
                    progress(len(batch_indices))
        finally:
            writer.close()
    for store in stores.values():
        store.mark_complete()
    stats.seconds = time.perf_counter() - start
    log.debug("extracted %d images of %s in %.1fs", stats.images, image_set, stats.seconds)
    return stats
