"""Sharded feature stores (CACHE_FORMAT 2) against the layout before them (format 1: a chunk file
per image and a flag file per unit), on the same synthetic activations: file count, bytes, write
MB/s, streamed random-batch read MB/s and images/s by read path, the file count and write speed
of other unit (= shard) sizes, and a U-Net's seconds per epoch streamed vs in memory.

Activations are ReLU'd Gaussian noise in float16 at the shapes of stem..layer4 for --size (224:
4.6 MB an image): about half zeros, so they compress like real maps (1.3-2x). Read paths, each
over the same random batches of 16 images, every block:

- `format 1, zarr gather`: the previous StreamedFeatures (per-image `getitem`s gathered on Zarr's
  event loop, batches read ahead on a thread pool);
- `format 2, zarr gather`: the same reads on the sharded arrays;
- `format 2, direct`: StreamedFeatures' read of a batch (harness.shards: each shard opened and its
  index read once per batch, chunks decompressed into the batch's buffer), one batch at a time,
  then read ahead on the same thread pool.

Writes bench/results/cache_cpu.json (or --out); `--device cuda` for a GPU's U-Net figures.

    python bench/cache.py [--images 256] [--size 224] [--batches 16] [--unet-images 32] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from dense import epoch_seconds
from zarr.core.sync import sync

from encoders import Preprocessing, block_shape
from harness.cache import MAX_UNIT_ROWS, UNIT_BYTES, FeatureStore, compressors, unit_rows_for
from harness.cache_key import CacheKey
from harness.sources import InMemoryFeatures, StreamedFeatures

BLOCKS = ("stem", "layer1", "layer2", "layer3", "layer4")
OLD_UNIT_BYTES = 64 << 20
"""Format 1's bound on a unit's raw bytes."""
SWEEP = (64 << 20, 128 << 20, 256 << 20)
PROJECTED_IMAGES = 10_000
BATCH = 16
MB = 1e6


def activations(rows: range, shape: tuple[int, ...]) -> np.ndarray:
    """ReLU'd noise, the same for the same row whatever the layout's units."""
    values = np.stack([np.random.default_rng(row).standard_normal(shape, np.float32) for row in rows])
    return np.maximum(values, 0).astype(np.float16)


def tree_files(path: Path) -> tuple[int, int]:
    """Files and bytes under `path`."""
    files = [f for f in path.rglob("*") if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


def projected_files(shape: tuple[int, ...], unit_bytes: int, sharded: bool, n: int = PROJECTED_IMAGES) -> int:
    """Files of one block's store of `n` images: format 1 has a chunk per image, a flag file per
    unit and three metadata documents; format 2 a shard per unit, the flags and three documents."""
    units = math.ceil(n / unit_rows_for(shape, unit_bytes))
    return units + 4 if sharded else n + units + 3


class OldStore:
    """A format-1 store, as harness.cache wrote it: a chunk file per image, a flag file per unit."""

    def __init__(self, path: Path, n: int, shape: tuple[int, ...]) -> None:
        group = zarr.open_group(zarr.storage.LocalStore(path), mode="w", zarr_format=3)
        self.unit_size = unit_rows_for(shape, OLD_UNIT_BYTES)
        group.create_array(
            "features",
            shape=(n, *shape),
            dtype="float16",
            chunks=(1, *shape),
            compressors=compressors(),
            fill_value=0.0,
        )
        group.create_array("done", shape=(math.ceil(n / self.unit_size),), dtype="uint8", chunks=(1,), fill_value=0)
        self.features = group["features"].with_config({"write_empty_chunks": True})
        self.done = group["done"]

    def write_unit(self, unit: int, values: np.ndarray) -> None:
        self.features[unit * self.unit_size : unit * self.unit_size + len(values)] = values
        self.done[unit] = 1


def write_all(n: int, shapes: dict[str, tuple[int, ...]], stores: dict[str, Any]) -> float:
    """Seconds to write every unit of every block (activations made beforehand, not timed)."""
    seconds = 0.0
    for block, shape in shapes.items():
        unit = stores[block].unit_size
        for start in range(0, n, unit):
            rows = range(start, min(start + unit, n))
            values = activations(rows, shape)
            began = time.perf_counter()
            stores[block].write_unit(start // unit, values)
            seconds += time.perf_counter() - began
    return seconds


def new_stores(root: Path, n: int, shapes: dict[str, tuple[int, ...]], unit_bytes: int | None = None):
    """Empty format-2 stores of every block (with another unit size when given)."""
    import harness.cache as cache

    saved = cache.UNIT_BYTES
    cache.UNIT_BYTES = unit_bytes or saved
    try:
        pre = Preprocessing(size=(224, 224)).key()
        return {
            block: FeatureStore.open_for_write(root, CacheKey.build("bench", "noise", n, pre, block), shape, "noise")
            for block, shape in shapes.items()
        }
    finally:
        cache.UNIT_BYTES = saved


async def _gather(arrays: list[Any], images: np.ndarray) -> list[np.ndarray]:
    """Every image of every block as concurrent `getitem`s on Zarr's loop (format 1's read path)."""
    values = await asyncio.gather(*(array.getitem(int(image)) for array in arrays for image in images))
    return [np.stack(values[k * len(images) : (k + 1) * len(images)]) for k in range(len(arrays))]


def zarr_reader(arrays: list[zarr.Array]) -> Callable[[torch.Tensor], list[np.ndarray]]:
    async_arrays = [array.async_array for array in arrays]
    return lambda rows: sync(_gather(async_arrays, np.unique(rows.numpy())))


def ahead(read: Callable[[torch.Tensor], Any], batches: Iterable[torch.Tensor], workers: int) -> Iterator[Any]:
    """`read` of each batch, `2 * workers` batches ahead on a thread pool, as StreamedFeatures reads."""
    pending: deque = deque()
    with ThreadPoolExecutor(workers) as pool:
        for rows in batches:
            pending.append(pool.submit(read, rows))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def timed_reads(name: str, batches: list[torch.Tensor], raw_per_image: int, run: Callable[[], Iterator[Any]]) -> dict:
    began = time.perf_counter()
    for _ in run():
        pass
    seconds = time.perf_counter() - began
    images = sum(len(b) for b in batches)
    row = {"images_per_s": images / seconds, "mb_per_s": images * raw_per_image / MB / seconds}
    print(f"  {name:<36} {row['images_per_s']:8.1f} img/s  {row['mb_per_s']:8.0f} MB/s")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, default=16, help="random batches of 16 per read path")
    parser.add_argument("--unet-images", type=int, default=32, help="images the U-Net trains on (0: skip)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, help="folder on the disk to measure (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cache_cpu.json")
    args = parser.parse_args()
    n, side = args.images, (args.size, args.size)
    shapes = {block: block_shape(block, side) for block in BLOCKS}
    raw_per_image = sum(2 * math.prod(shape) for shape in shapes.values())
    workers = min(8, os.cpu_count() or 1)
    report: dict[str, Any] = {
        "settings": {"images": n, "size": args.size, "batch_size": BATCH, "batches": args.batches, "workers": workers},
        "machine": {
            "torch": torch.__version__,
            "zarr": zarr.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()[0],
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        },
        "raw_mb_per_image": raw_per_image / MB,
    }
    with tempfile.TemporaryDirectory(dir=args.cache) as folder:
        root = Path(folder)
        old = {block: OldStore(root / "old" / f"{block}.zarr", n, shape) for block, shape in shapes.items()}
        old_seconds = write_all(n, shapes, old)
        new = new_stores(root / "new", n, shapes)
        new_seconds = write_all(n, shapes, new)
        for store in new.values():
            store.mark_complete()
            store.close()
        layouts = {}
        for name, seconds in (("format 1", old_seconds), ("format 2", new_seconds)):
            files, stored = tree_files(root / ("old" if name == "format 1" else "new"))
            layouts[name] = {
                "files": files,
                "stored_mb": stored / MB,
                "write_mb_per_s": n * raw_per_image / MB / seconds,
            }
            print(f"{name}: {files} files, {stored / MB:.0f} MB, writes {layouts[name]['write_mb_per_s']:.0f} MB/s")
        report["layouts"] = layouts
        for block, store in new.items():  # both layouts hold the same numbers
            rows = store.unit_rows(store.n_units - 1)
            assert np.array_equal(old[block].features[rows.start : rows.stop], store.read_unit(store.n_units - 1))

        rng = np.random.default_rng(0)
        batches = [torch.from_numpy(rng.choice(n, BATCH, replace=False)) for _ in range(args.batches)]
        streamed = StreamedFeatures(new, workers=workers)
        print("random batches of 16, all five blocks:")
        reads = {
            "format 1, zarr gather, read-ahead": lambda: ahead(
                zarr_reader([s.features for s in old.values()]), batches, workers
            ),
            "format 2, zarr gather, read-ahead": lambda: ahead(
                zarr_reader([s.features for s in new.values()]), batches, workers
            ),
            "format 2, direct, one batch at a time": lambda: (streamed._read(rows) for rows in batches),
            "format 2, direct, read-ahead": lambda: ahead(streamed._read, batches, workers),
        }
        report["reads"] = {name: timed_reads(name, batches, raw_per_image, run) for name, run in reads.items()}

        sweep = {}
        print(f"unit (= shard) size, {n} layer1 maps written; files projected for {PROJECTED_IMAGES} images x 5 maps:")
        for limit in SWEEP:
            stores = new_stores(root / f"sweep{limit >> 20}", n, {"layer1": shapes["layer1"]}, limit)
            seconds = write_all(n, {"layer1": shapes["layer1"]}, stores)
            files = sum(projected_files(shape, limit, True) for shape in shapes.values())
            sweep[f"{limit >> 20} MiB"] = {
                "stem_unit_rows": unit_rows_for(shapes["stem"], limit),
                "projected_files": files,
                "layer1_write_mb_per_s": n * 2 * math.prod(shapes["layer1"]) / MB / seconds,
            }
            print(
                f"  {limit >> 20:4d} MiB: {files} files, layer1 writes {sweep[f'{limit >> 20} MiB']['layer1_write_mb_per_s']:.0f} MB/s"
            )
        old_files = sum(projected_files(shape, OLD_UNIT_BYTES, False) for shape in shapes.values())
        new_files = sum(projected_files(shape, UNIT_BYTES, True) for shape in shapes.values())
        report["projected"] = {
            "images": PROJECTED_IMAGES,
            "format_1_files": old_files,
            "format_2_files": new_files,
            "fewer_files": old_files / new_files,
            "sweep": sweep,
            "max_unit_rows": MAX_UNIT_ROWS,
        }
        print(
            f"{PROJECTED_IMAGES} images x 5 maps: format 1 {old_files} files, format 2 {new_files} ({old_files / new_files:.0f}x fewer)"
        )

        if args.unet_images:
            unet = {}
            memory = InMemoryFeatures({b: torch.from_numpy(s.read_all()) for b, s in new.items()}, args.device)
            for name, source in (("stream", StreamedFeatures(new, args.device)), ("memory", memory)):
                epoch_seconds(source, min(args.unet_images, 16), args.size, 1, args.device)  # warm-up
                unet[name] = epoch_seconds(source, args.unet_images, args.size, 1, args.device)
                print(f"U-Net {name}: {unet[name]:.2f} s/epoch ({args.unet_images} images)")
            report["unet"] = {
                "images": args.unet_images,
                "seconds_per_epoch": unet,
                "stream_over_memory": unet["stream"] / unet["memory"],
            }
            print(f"stream / memory = {unet['stream'] / unet['memory']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
