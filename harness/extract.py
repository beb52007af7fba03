"""Run a frozen encoder once over an image set and stream its blocks into feature stores.

The forward thread only decodes what the device decodes, runs the encoder (float32, or bfloat16
autocast with channels-last: harness.compute) and hands the outputs over; a writer thread checks
them, converts them to float16, assembles whole units and compresses and writes them, so the
cache costs little over a plain forward. On CUDA the outputs are converted on the device and
copied to pinned host memory without blocking; the writer waits for the copy, never the forward.
Only units without a commit flag are computed, so an interrupted run resumes where it stopped.
Memory holds a few units per block at most (the one being assembled, the one being written and
WRITE_DEPTH batches queued), each capped by harness.cache.UNIT_BYTES.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from encoders import Preprocessing, ResNet50Trunk
from harness.cache import FeatureStore
from harness.compute import FP32, autocast, memory_format
from harness.distributed import SOLO, World
from harness.errors import NonFiniteFeatures
from harness.loader import image_loader
from tasks.readers import Reader

log = logging.getLogger(__name__)
FLOAT16_MAX = float(np.finfo(np.float16).max)
WRITE_DEPTH = 2
"""Batches queued for the writer: enough to absorb a slow unit write, few enough to bound memory."""


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
    """What a run did, and where its time went: `stall_seconds` is how long the forward waited for
    the writer (a full queue), `drain_seconds` how long the last units took after the last batch."""

    images: int = 0
    seconds: float = 0.0
    stall_seconds: float = 0.0
    drain_seconds: float = 0.0
    compute: str = FP32
    decode: str = "pil"


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


def host_float16(values: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event | None]:
    """A block's outputs on their way to the writer: on CUDA converted to contiguous float16 there
    and copied to pinned memory without blocking (the event marks the copy's end); elsewhere as
    they are, the writer converting them."""
    if values.device.type != "cuda":
        return values, None
    half = values.to(torch.float16).contiguous()
    host = torch.empty(half.shape, dtype=torch.float16, pin_memory=True)
    host.copy_(half, non_blocking=True)
    done = torch.cuda.Event()
    done.record()
    return host, done


class _UnitWriter:
    """A background thread that takes each batch's outputs and does everything after the forward:
    the NaN/overflow check, float16 conversion, unit assembly, compression and writing."""

    def __init__(self, assemblers: dict[str, _UnitAssembler], ids: Sequence[str], image_set: str) -> None:
        self.assemblers, self.ids, self.image_set = assemblers, ids, image_set
        self.queue: queue.Queue = queue.Queue(maxsize=WRITE_DEPTH)
        self.error: BaseException | None = None
        self.stall_seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="ccbench-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                self._write(*item)
            except BaseException as error:  # re-raised in the caller's thread
                self.error = error

    def _write(self, rows: np.ndarray, outputs: dict[str, tuple[torch.Tensor, torch.cuda.Event | None]]) -> None:
        batch_ids = [self.ids[int(row)] for row in rows]
        for name, (values, copied) in outputs.items():
            if copied is not None:
                copied.synchronize()
            half = values.to(torch.float16).contiguous()
            check_finite(name, half, batch_ids, self.image_set)
            assembler = self.assemblers[name]
            for unit, unit_values in assembler.add(rows, half.numpy()):
                assembler.store.write_unit(unit, unit_values)

    def put(self, rows: torch.Tensor, outputs: dict[str, torch.Tensor]) -> None:
        """Queue a batch; the time spent waiting for room is the forward's stall."""
        self.raise_pending()
        item = (rows.numpy(), {name: host_float16(values) for name, values in outputs.items()})
        started = time.perf_counter()
        self.queue.put(item)
        self.stall_seconds += time.perf_counter() - started

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
    compute: str = FP32,
    decode: str = "pil",
    world: World = SOLO,
) -> ExtractStats:
    """Fill every pending unit of `stores` (block name -> store, all over `reader`'s images) and
    mark them complete; a rank of a larger `world` fills only its own units and leaves marking to
    the coordinator, after every rank is done (harness.prepare.run_extraction).

    Only the images of unfinished units are encoded; each store commits its own units, whose
    sizes differ by block but nest inside MAX_UNIT_ROWS boundaries. `compute` must be the one the
    stores' keys record (harness.compute), `decode` one of harness.loader.DECODES.
    """
    assemblers = {name: _UnitAssembler(store, world) for name, store in stores.items()}
    rows = sorted(set().union(*(a.rows_to_compute() for a in assemblers.values())))
    stats = ExtractStats(compute=compute, decode=decode)
    start = time.perf_counter()
    if rows:
        layout = memory_format(compute)
        trunk = trunk.to(device, memory_format=layout)
        writer = _UnitWriter(assemblers, reader.image_ids(), image_set)
        try:
            batches = image_loader(reader, rows, preprocessing, batch_size, workers, decode, device, layout)
            for batch_rows, images in batches:
                with autocast(compute, device):
                    outputs = trunk(images, tuple(stores))
                writer.put(batch_rows, outputs)
                stats.images += len(batch_rows)
                if progress is not None:
                    progress(len(batch_rows))
            drain = time.perf_counter()
        finally:
            writer.close()
            trunk.to(memory_format=torch.contiguous_format)
        stats.stall_seconds, stats.drain_seconds = writer.stall_seconds, time.perf_counter() - drain
    if world.size == 1:
        for store in stores.values():
            store.mark_complete()
    stats.seconds = time.perf_counter() - start
    log.debug(
        "extracted %d images of %s in %.1fs (%s, decode %s; forward waited %.1fs on the writer)",
        stats.images,
        image_set,
        stats.seconds,
        compute,
        decode,
        stats.stall_seconds,
    )
    return stats
