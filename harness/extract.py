"""Run a frozen encoder once over an image set and stream its blocks into feature stores.

The encoder computes while a writer thread compresses and writes the previous unit, so the
cache costs little over a plain forward; only units without a commit flag are computed, so an
interrupted run resumes where it stopped. Memory holds a few units per block at most (the one
being assembled, the one being written and two queued), each capped by harness.cache.UNIT_BYTES.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from encoders import Preprocessing, ResNet50Trunk
from harness.cache import FeatureStore
from harness.distributed import SOLO, World
from harness.errors import NonFiniteFeatures
from tasks.errors import DataError
from tasks.readers import Reader

log = logging.getLogger(__name__)
FLOAT16_MAX = float(np.finfo(np.float16).max)


class ImageDataset(Dataset):
    """Decoded, preprocessed images of a reader at the given indices (decoding runs in workers).

    A dataset error (a corrupt or missing image) travels back as data with its batch and is raised
    in the main process (`image_loader`), so the user gets its one line: raised in a worker,
    PyTorch would wrap it into a message holding the worker's whole traceback."""

    def __init__(self, reader: Reader, indices: Sequence[int], preprocessing: Preprocessing) -> None:
        self.reader, self.indices, self.preprocessing = reader, list(indices), preprocessing

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor | None, DataError | None]:
        index = self.indices[position]
        try:
            return index, self.preprocessing(self.reader.image(index)), None
        except DataError as error:
            return index, None, error


def collate(
    items: list[tuple[int, torch.Tensor | None, DataError | None]],
) -> tuple[torch.Tensor, torch.Tensor, DataError | None]:
    """(indices, stacked images, None), or the first dataset error among the items (run in the worker)."""
    for _, _, error in items:
        if error is not None:
            return torch.empty(0), torch.empty(0), error
    return torch.tensor([index for index, _, _ in items]), torch.stack([image for _, image, _ in items]), None


def image_loader(
    reader: Reader, indices: Sequence[int], preprocessing: Preprocessing, batch_size: int, workers: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches in index order; workers decode while the encoder runs. A dataset error is raised
    here, in the main process."""
    loader = DataLoader(
        ImageDataset(reader, indices, preprocessing),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
        collate_fn=collate,
    )
    for rows, images, error in loader:
        if error is not None:
            raise error
        yield rows, images


def check_finite(block: str, values: torch.Tensor, ids: Sequence[str], image_set: str) -> None:
    """Refuse NaN, infinity or float16 overflow, naming the first offending image.

    One min/max pass clears a sound batch (NaN propagates into both); the per-image search runs
    only when it fails."""
    low, high = torch.aminmax(values)
    if -FLOAT16_MAX <= float(low) and float(high) <= FLOAT16_MAX:
        return
    bad = ~torch.isfinite(values) | (values.abs() > FLOAT16_MAX)
    if bad.any():
        row = int(bad.flatten(1).any(dim=1).nonzero()[0])
        raise NonFiniteFeatures(
            f"{image_set}: encoder block {block} is NaN, infinite or beyond float16 on image "
            f"{ids[row]}; the checkpoint's weights are likely broken (check it with "
            "`ccbench inspect`)"
        )


@dataclass
class ExtractStats:
    images: int = 0
    seconds: float = 0.0


def owned_units(store: FeatureStore, world: World) -> list[int]:
    """The store's pending units this rank computes: those in the row groups it owns, the same
    groups in every store, so each image is encoded by one rank for all blocks."""
    return [unit for unit in store.pending_units() if world.owns(store.writer_group(unit))]


class _UnitAssembler:
    """Buffers one store's rows until a whole unit is in hand; rows arrive in increasing order."""

    def __init__(self, store: FeatureStore, world: World) -> None:
        self.store = store
        self.pending = set(owned_units(store, world))
        self.parts: dict[int, list[np.ndarray]] = {}

    def rows_to_compute(self) -> set[int]:
        return {row for unit in self.pending for row in self.store.unit_rows(unit)}

    def add(self, rows: np.ndarray, values: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Take a batch's rows; return the units it completes that this store still lacks."""
        finished = []
        units = rows // self.store.unit_size
        for unit in np.unique(units):
            unit = int(unit)
            parts = self.parts.setdefault(unit, [])
            parts.append(values[units == unit])
            if sum(len(part) for part in parts) == len(self.store.unit_rows(unit)):
                del self.parts[unit]
                if unit in self.pending:
                    finished.append((unit, np.concatenate(parts)))
        return finished


class _UnitWriter:
    """A background thread that writes whole units, so compression overlaps the next forward."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ccbench-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                for store, unit, values in item:
                    store.write_unit(unit, values)
            except BaseException as error:  # re-raised in the caller's thread
                self.error = error

    def put(self, writes: list[tuple[FeatureStore, int, np.ndarray]]) -> None:
        self.raise_pending()
        if writes:
            self.queue.put(writes)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.raise_pending()

    def raise_pending(self) -> None:
        if self.error is not None:
            raise self.error


def extract(
    trunk: ResNet50Trunk,
    reader: Reader,
    preprocessing: Preprocessing,
    stores: dict[str, FeatureStore],
    image_set: str,
    batch_size: int = 64,
    device: str = "cpu",
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    world: World = SOLO,
) -> ExtractStats:
    """Fill every pending unit of `stores` (block name -> store, all over `reader`'s images) and
    mark them complete; a rank of a larger `world` fills only its own units and leaves marking to
    the coordinator, after every rank is done (harness.prepare.run_extraction).

    Only the images of unfinished units are encoded; each store commits its own units, whose
    sizes differ by block but nest inside MAX_UNIT_ROWS boundaries.
    """
    assemblers = {name: _UnitAssembler(store, world) for name, store in stores.items()}
    rows = sorted(set().union(*(a.rows_to_compute() for a in assemblers.values())))
    stats = ExtractStats()
    start = time.perf_counter()
    if rows:
        ids = reader.image_ids()
        trunk = trunk.to(device)
        writer = _UnitWriter()
        try:
            for batch_rows, images in image_loader(reader, rows, preprocessing, batch_size, workers):
                outputs = trunk(images.to(device, non_blocking=True), tuple(stores))
                batch_ids = [ids[int(row)] for row in batch_rows]
                writes = []
                for name, assembler in assemblers.items():
                    values = outputs[name].float()
                    check_finite(name, values, batch_ids, image_set)
                    completed = assembler.add(batch_rows.numpy(), values.to("cpu", torch.float16).numpy())
                    writes.extend((assembler.store, unit, unit_values) for unit, unit_values in completed)
                writer.put(writes)
                stats.images += len(batch_rows)
                if progress is not None:
                    progress(len(batch_rows))
        finally:
            writer.close()
    if world.size == 1:
        for store in stores.values():
            store.mark_complete()
    stats.seconds = time.perf_counter() - start
    log.debug("extracted %d images of %s in %.1fs", stats.images, image_set, stats.seconds)
    return stats
