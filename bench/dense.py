"""Seconds per epoch of the U-Net head on the same images, three ways: (a) features already in
memory (the head's own compute), (b) streamed from the Zarr cache with read-ahead, (c) the encoder
in the loop on decoded uint8 inputs. Also MB/s read, peak memory, and whether the planner's choice
(from `calibrate`'s encoder and head rates and this run's read speed) is within 10% of the faster
mode.

Goals: (b) within 10% of (a), i.e. reading hidden behind the head's compute; the planner's choice
never more than 10% slower than the other mode (the cache counts as (a) when the planner would hold
the maps in memory, as `score` then does). Images are random noise at --size (224 default):
cost does not depend on pixel values. Writes bench/results/dense.json (or --out).

    python bench/dense.py [--images 64] [--size 224] [--epochs 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from encoders import Preprocessing, ResNet50Trunk, block_shape
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.calibration import calibrate
from harness.costs import COMPRESSION, estimate, memory_budget
from harness.extract import extract
from harness.grid import GridPoint
from harness.heads import build_head
from harness.sources import DecodedInputs, FeatureSource, InMemoryFeatures, LoopFeatures, StreamedFeatures
from harness.train import TrainConfig, train_grid
from tasks import get_task
from tasks.readers import DenseReader

BLOCKS = ("layer4", "layer3", "layer2", "layer1", "stem")


class NoiseImages(DenseReader):
    """Random RGB images with a zero depth target: only their size matters here."""

    TARGET, LAYOUT, SPLITS = "depth", "random", ("train",)

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.root, self.split = count, size, Path("."), "train"
        self.classes = ["depth"]

    def __len__(self) -> int:
        return self.count

    def image(self, index: int) -> np.ndarray:
        return np.random.default_rng(index).integers(0, 256, (self.size, self.size, 3), dtype=np.uint8)

    def target(self, index: int) -> np.ndarray:
        return np.ones((self.size, self.size), np.float32)

    def image_ids(self) -> list[str]:
        return [f"noise-{i}" for i in range(self.count)]

    def content_digest(self) -> str:
        return f"noise-{self.count}-{self.size}"


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Growth of resident host memory over its level at entry, at its peak while the block runs,
    and peak allocated GPU memory, in MB: what one mode adds, whatever earlier phases left."""

    def __enter__(self) -> PeakMemory:
        self.start = resident_bytes()
        self.peak, self.running = self.start, True
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, resident_bytes())
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.host_mb = (self.peak - self.start) / 1e6
        self.gpu_mb = torch.cuda.max_memory_allocated() / 1e6 if torch.cuda.is_available() else None


def epoch_seconds(source: FeatureSource, n: int, size: int, epochs: int, device: str) -> float:
    """Seconds per epoch of one U-Net trained on all `n` images (validation on 1/8 of them)."""
    head = build_head("unet", 1, seed=0)
    train, val = torch.arange(n - n // 8), torch.arange(n - n // 8, n)
    config = TrainConfig(16, epochs, "l1", "neg_l1", bf16=device == "cuda", eval_batch_size=16)
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train_grid([head], [GridPoint("adam", 3e-4)], source, DepthOnes(size), train, val, config, device)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / epochs


class DepthOnes:
    """A depth target of 1 m everywhere at the input size (the value does not change the cost)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(rows), self.size, self.size)


def read_pass(source: StreamedFeatures, n: int) -> float:
    """Seconds to stream every image once in batches of 16 with read-ahead, nothing else running."""
    started = time.perf_counter()
    for _ in source.batches([torch.arange(start, min(start + 16, n)) for start in range(0, n, 16)]):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cache", type=Path, help="cache folder on the disk to measure (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dense.json")
    args = parser.parse_args()
    reader, preprocessing = NoiseImages(args.images, args.size), Preprocessing(size=(args.size, args.size))
    trunk = ResNet50Trunk().eval()
    with tempfile.TemporaryDirectory(dir=args.cache) as folder:
        root = Path(folder)
        stores = {
            block: FeatureStore.open_for_write(
                root,
                CacheKey.build("bench", reader.manifest_digest, len(reader), preprocessing.key(), block),
                block_shape(block, (args.size, args.size)),
                "noise",
            )
            for block in BLOCKS
        }
        extracted = extract(trunk, reader, preprocessing, stores, "noise", 16, args.device)
        stored = sum(store.nbytes_stored() for store in stores.values())
        raw = args.images * sum(2 * int(np.prod(block_shape(block, (args.size, args.size)))) for block in BLOCKS)
        read_seconds = read_pass(StreamedFeatures(stores, args.device), args.images)
        sources = {
            "stream": lambda: StreamedFeatures(stores, args.device),
            "loop": lambda: LoopFeatures(
                trunk, DecodedInputs(root, reader, preprocessing), BLOCKS, args.device, bf16=args.device == "cuda"
            ),
            "memory": lambda: InMemoryFeatures(
                {block: torch.from_numpy(store.read_all()) for block, store in stores.items()}, args.device
            ),
        }
        results = {}
        for name, make in sources.items():
            source = make()
            epoch_seconds(source, min(args.images, 32), args.size, 1, args.device)  # warm-up
            with PeakMemory() as memory:
                seconds = epoch_seconds(source, args.images, args.size, args.epochs, args.device)
            results[name] = {"seconds_per_epoch": seconds, "peak_host_mb": memory.host_mb, "peak_gpu_mb": memory.gpu_mb}
            print(
                f"{name:<7} {seconds:8.2f} s/epoch  peak host {memory.host_mb:8.0f} MB"
                + (f"  gpu {memory.gpu_mb:8.0f} MB" if memory.gpu_mb is not None else "")
            )
    stream, memory_s, loop = (results[k]["seconds_per_epoch"] for k in ("stream", "memory", "loop"))
    read_mb_s = raw / 1e6 / read_seconds
    cuda = args.device == "cuda"
    calibration = dataclasses.replace(
        calibrate(args.device, batch_size=32 if cuda else 2, repeats=5 if cuda else 1), read_mb_per_s=read_mb_s
    )
    plan = estimate(
        get_task("nyu_depth"),
        args.images,
        1,
        (args.size, args.size),
        args.epochs,
        calibration,
        None,
        memory_budget(args.device),
    )
    held = "in memory" in plan.reason
    cached = memory_s if held else stream
    chosen, other = (cached, loop) if plan.choice == "cache" else (loop, cached)
    report = {
        "settings": {
            "images": args.images,
            "size": args.size,
            "epochs": args.epochs,
            "batch_size": 16,
            "device": args.device,
            "head": "unet",
        },
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        },
        "modes": results,
        "extract_images_per_s": args.images / extracted.seconds,
        "bytes": {
            "raw_per_image": raw / args.images,
            "stored_per_image": stored / args.images,
            "compression": raw / stored,
            "assumed_compression": COMPRESSION,
        },
        "stream_read_mb_per_s": read_mb_s,
        "stream_needed_mb_per_s": raw / 1e6 / stream,
        "stream_over_memory": stream / memory_s,
        "planner": {
            "choice": plan.choice,
            "held_in_memory": held,
            "chosen_over_other": chosen / other,
            "calibration": dataclasses.asdict(calibration),
            "estimated_s_per_epoch": {"cache": plan.cache_epoch_s, "loop": plan.loop_epoch_s},
        },
        "goals": {
            "stream_within_10pct_of_memory": stream <= 1.10 * memory_s,
            "planner_within_10pct": chosen <= 1.10 * other,
        },
    }
    print(
        f"stream / memory = {stream / memory_s:.2f} (goal <= 1.10: "
        f"{'met' if report['goals']['stream_within_10pct_of_memory'] else 'NOT met'}); read {read_mb_s:.0f} MB/s"
    )
    print(
        f"planner chose {plan.choice}{' (maps held in memory)' if held else ''}: {chosen:.2f} s vs {other:.2f} s "
        f"for the other mode "
        f"({'met' if report['goals']['planner_within_10pct'] else 'NOT met'})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
