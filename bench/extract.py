"""Benchmark feature extraction against a plain encoder forward, and the cache's bytes per image.

Why: harness.extract claims that streaming features into Zarr stores costs little over the forward
pass it wraps (the project's goal: extraction at >= 90% of plain-forward images/s, in each compute:
fp32 and bf16 autocast with channels-last, JPEG decoding included on both sides), and
harness.cache.compressors() claims Blosc zstd-1 + byte shuffle is near the best ratio at several
times its speed. Both claims depend on the machine, so this script measures them on the same
synthetic images, batch size and blocks, and writes the numbers to a JSON file.

Run from the repository root: `.venv/bin/python bench/extract.py` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numcodecs
import numpy as np
import torch
import zarr
from PIL import Image
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from encoders import BLOCK_NAMES, Preprocessing, ResNet50Trunk, block_shape, get_block, load_encoder
from harness.cache import FeatureStore, compressors
from harness.cache_key import CacheKey
from harness.compute import autocast, memory_format, resolve_compute
from harness.extract import ExtractStats, extract
from harness.loader import DECODES, image_loader, resolve_decode
from tasks.readers.base import FileListReader, listing_digest

ENCODER = "random:0"
SOURCE_SIZE = (375, 500)
"""The JPEGs the bench decodes: ImageNet's typical photo size."""
GOAL = 0.90
"""Extraction must keep this fraction of the plain forward's images/s."""
CODEC_REPEATS = 3
MB = 1e6


@dataclass(frozen=True)
class Config:
    """A named set of blocks extracted together in one pass."""

    name: str
    blocks: tuple[str, ...]


def parse_config(text: str) -> Config:
    """`pool`, `all` (five spatial blocks + pool) or a comma list such as `layer3,pool`."""
    if text == "all":
        return Config("all", BLOCK_NAMES)
    blocks = tuple(get_block(name.strip()).name for name in text.split(",") if name.strip())
    if not blocks:
        raise argparse.ArgumentTypeError("empty block list")
    return Config(text, blocks)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", type=int, default=192, help="images per measured pass (default 192: about 4.5 min on 2 CPU cores)"
    )
    parser.add_argument("--size", type=int, default=224, help="square input size in pixels (default 224)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--blocks",
        nargs="+",
        type=parse_config,
        default=[parse_config("pool"), parse_config("all")],
        help="configurations to measure: pool, all, or comma lists (default: pool all)",
    )
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument(
        "--compute",
        nargs="+",
        choices=("fp32", "bf16"),
        default=["fp32", "bf16"],
        help="encoder computes to measure, each plain vs extraction (default: fp32 bf16)",
    )
    parser.add_argument(
        "--decode", choices=("auto", *DECODES), default="auto", help="decode path of both sides (default auto)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each of plain and extract (default 2)")
    parser.add_argument(
        "--codec-images",
        type=int,
        default=16,
        help="images per spatial block in the codec table (pool uses all; default 16)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/extract.json"))
    parser.add_argument("--device", default=default_device)
    args = parser.parse_args(argv)
    if min(args.images, args.size, args.batch_size, args.repeats, args.codec_images) < 1 or args.workers < 0:
        parser.error("--images, --size, --batch-size, --repeats and --codec-images must be positive")
    return args


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so a timer stopped after it measures the work itself."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


class Timing(NamedTuple):
    """Wall seconds, and CPU seconds of this process (all threads), which other jobs disturb less."""

    wall: float
    cpu: float


def timed(action: Callable[[], object], device: str) -> Timing:
    """Time `action` to the end of its device work."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    synchronize(device)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


class JpegFolder(FileListReader):
    """Every JPEG of a folder, in name order: the files the loader's decode paths read."""

    SPLITS, LAYOUT = ("train",), "*.jpg"

    def __init__(self, root: Path) -> None:
        super().__init__(root, "train")
        self._paths = sorted(root.glob("*.jpg"))
        self._labels = np.zeros(len(self._paths), dtype=np.int64)
        self.classes = ["image"]

    def content_digest(self) -> str:
        return listing_digest(self.root, self._paths)


def write_jpegs(folder: Path, count: int, seed: int) -> JpegFolder:
    """`count` JPEGs of SOURCE_SIZE (smooth noise: about the entropy of a photo)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        coarse = rng.integers(0, 256, (SOURCE_SIZE[0] // 8, SOURCE_SIZE[1] // 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize(SOURCE_SIZE[::-1], Image.BILINEAR)
        image.save(folder / f"{index:05d}.jpg", "JPEG", quality=90)
    return JpegFolder(folder)


def plain_forward(
    trunk: ResNet50Trunk,
    reader: JpegFolder,
    preprocessing: Preprocessing,
    blocks: tuple[str, ...],
    batch_size: int,
    workers: int,
    device: str,
    compute: str,
    decode: str,
) -> None:
    """The encoder alone, in `compute`, over the same loader and decoding extract() uses; outputs are dropped."""
    layout = memory_format(compute)
    trunk.to(memory_format=layout)
    for _, images in image_loader(
        reader, range(len(reader)), preprocessing, batch_size, workers, decode, device, layout
    ):
        with autocast(compute, device):
            trunk(images, blocks)
    trunk.to(memory_format=torch.contiguous_format)


def decode_rate(reader: JpegFolder, preprocessing: Preprocessing, decode: str, batch: int, device: str) -> float:
    """Images/s of a decode path alone (read, decode, resize, onto the device; one thread)."""
    synchronize(device)
    started = time.perf_counter()
    for _ in image_loader(reader, range(len(reader)), preprocessing, batch, 0, decode, device):
        pass
    synchronize(device)
    return len(reader) / (time.perf_counter() - started)


def open_stores(
    root: Path,
    reader: JpegFolder,
    preprocessing: Preprocessing,
    fingerprint: str,
    blocks: tuple[str, ...],
    compute: str,
) -> dict[str, FeatureStore]:
    """Fresh stores keyed as the harness keys them (encoder fingerprint, image manifest, preprocessing)."""
    stores = {}
    for block in blocks:
        key = CacheKey.build(
            fingerprint, reader.manifest_digest, len(reader), preprocessing.key(), block, compute=compute
        )
        shape = block_shape(block, preprocessing.size)
        stores[block] = FeatureStore.open_for_write(root, key, shape, "bench/train")
    return stores


def chunk_bytes(store: FeatureStore) -> int:
    """Bytes of the feature chunk files only (metadata and commit flags excluded)."""
    return sum(f.stat().st_size for f in (store.path / "features" / "c").rglob("*") if f.is_file())


def write_alone(stores: dict[str, FeatureStore], scratch: Path) -> dict[str, float]:
    """Seconds per block to write_unit every unit again into a fresh store, serially, with nothing else running.

    This is the work the writer thread has to hide behind the forward passes.
    """
    seconds = {}
    for block, store in stores.items():
        values = store.features[:]
        copy = FeatureStore.open_for_write(scratch, store.key, store.features.shape[1:], "bench/write")
        start = time.perf_counter()
        for unit in range(copy.n_units):
            rows = copy.unit_rows(unit)
            copy.write_unit(unit, values[rows.start : rows.stop])
        seconds[block] = time.perf_counter() - start
        shutil.rmtree(scratch)
    return seconds


def codec_label(codecs: tuple[Any, ...]) -> str:
    """A short name for a compressor chain, leaving out the crc32c every row shares."""
    parts = []
    for codec in codecs:
        if isinstance(codec, BloscCodec):
            parts.append(f"blosc {codec.cname.value} clevel{codec.clevel} {codec.shuffle.value}")
        elif isinstance(codec, ZstdCodec):
            parts.append(f"zstd level{codec.level}" + (" (default)" if codec.level == 0 else ""))
        elif not isinstance(codec, Crc32cCodec):
            parts.append(type(codec).__name__)
    return " + ".join(parts) or "none"


def codec_candidates() -> list[tuple[tuple[Any, ...], bool]]:
    """(compressor chain, is the store's choice): every chain ends in crc32c, as the store's does."""
    chosen = compressors()
    return [
        ((Crc32cCodec(),), False),
        ((ZstdCodec(), Crc32cCodec()), False),
        (chosen, True),
        ((BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"), Crc32cCodec()), False),
        ((BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"), Crc32cCodec()), False),
    ]


def measure_codec(values: np.ndarray, codecs: tuple[Any, ...], chunks: tuple[int, ...], folder: Path) -> dict:
    """Ratio and raw-fp16 MB/s of write (encode) and read (decode) through a Zarr array chunked like the store.

    Times are the best of CODEC_REPEATS: the least disturbed by other work on a shared machine.
    """
    write_times, read_times = [], []
    for attempt in range(CODEC_REPEATS):
        array = zarr.create_array(
            zarr.storage.LocalStore(folder / f"a{attempt}"),
            shape=values.shape,
            dtype="float16",
            chunks=chunks,
            compressors=codecs,
            fill_value=0.0,
            config={"write_empty_chunks": True},
        )
        start = time.perf_counter()
        array[:] = values
        write_times.append(time.perf_counter() - start)
    for _ in range(CODEC_REPEATS):
        start = time.perf_counter()
        decoded = array[:]
        read_times.append(time.perf_counter() - start)
    if not np.array_equal(decoded, values):
        raise AssertionError(f"{codec_label(codecs)} did not round-trip")
    stored = sum(f.stat().st_size for f in (folder / f"a{CODEC_REPEATS - 1}" / "c").rglob("*") if f.is_file())
    shutil.rmtree(folder)
    return {
        "ratio": values.nbytes / stored,
        "raw_bytes_per_image": values.nbytes / len(values),
        "bytes_per_image": stored / len(values),
        "encode_MBps": values.nbytes / min(write_times) / MB,
        "decode_MBps": values.nbytes / min(read_times) / MB,
    }


def codec_table(stores: dict[str, FeatureStore], codec_images: int, scratch: Path) -> dict[str, dict[str, dict]]:
    """block -> codec label -> measurements, on the activations the extraction just wrote."""
    table: dict[str, dict[str, dict]] = {}
    for block, store in stores.items():
        chunks = store.features.chunks
        values = store.features[:] if store.features.ndim == 2 else store.features[:codec_images]
        table[block] = {}
        for codecs, chosen in codec_candidates():
            result = measure_codec(values, codecs, chunks, scratch / "codec")
            table[block][codec_label(codecs)] = {**result, "chosen": chosen, "images": len(values)}
    return table


def codec_totals(table: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Per codec over all blocks, weighted by bytes: total raw / total stored, total raw / total seconds."""
    totals: dict[str, dict] = {}
    for label in next(iter(table.values())):
        raw = stored = encode = decode = 0.0
        for rows in table.values():
            row = rows[label]
            block_raw = row["raw_bytes_per_image"] * row["images"]
            raw += block_raw
            stored += row["bytes_per_image"] * row["images"]
            encode += block_raw / (row["encode_MBps"] * MB)
            decode += block_raw / (row["decode_MBps"] * MB)
        totals[label] = {"ratio": raw / stored, "encode_MBps": raw / encode / MB, "decode_MBps": raw / decode / MB}
    return totals


def winners(rows: dict[str, dict]) -> dict[str, str]:
    """Which codec wins on ratio, on encode speed and on decode speed (compression rows only)."""
    compressed = {label: row for label, row in rows.items() if label != "none"}
    return {
        metric: max(compressed, key=lambda label: compressed[label][metric])
        for metric in ("ratio", "encode_MBps", "decode_MBps")
    }


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain aligned columns: floats to 3 significant digits, first column left-aligned."""

    def cell(value: Any) -> str:
        return (
            f"{value:.3g}"
            if isinstance(value, float) and abs(value) < 1000
            else (f"{value:.0f}" if isinstance(value, float) else str(value))
        )

    text = [[cell(value) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]
    lines = [
        "  ".join(value.ljust(widths[i]) if i == 0 else value.rjust(widths[i]) for i, value in enumerate(row))
        for row in text
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's marketing name (Linux), else whatever platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor()
    )


def machine_info(device: str) -> dict[str, Any]:
    """What the numbers depend on: versions, threads, cores and the device."""
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "zarr": zarr.__version__,
        "numcodecs": numcodecs.__version__,
        "load_average_1m_at_start": os.getloadavg()[0],
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu,
    }


def summarize(images: int, plain: list[Timing], extracted: list[Timing]) -> dict[str, Any]:
    """images/s of every run, best and median, and extraction as a fraction of the plain forward.

    Paired ratios (each extract run over the plain run just before it) and CPU seconds per image
    back the best-run ratio when the machine's speed drifts or other jobs share it: on a CPU
    device that every thread keeps busy, extra CPU work is extra wall time.
    """
    plain_rates = [images / t.wall for t in plain]
    extract_rates = [images / t.wall for t in extracted]
    best_ratio = max(extract_rates) / max(plain_rates)
    plain_cpu = [t.cpu / images for t in plain]
    extract_cpu = [t.cpu / images for t in extracted]
    return {
        "plain_img_s": plain_rates,
        "extract_img_s": extract_rates,
        "plain_best": max(plain_rates),
        "extract_best": max(extract_rates),
        "plain_median": statistics.median(plain_rates),
        "extract_median": statistics.median(extract_rates),
        "ratio_best": best_ratio,
        "ratio_median": statistics.median(extract_rates) / statistics.median(plain_rates),
        "paired_ratios": [e / p for e, p in zip(extract_rates, plain_rates)],
        "plain_cpu_s_per_image": plain_cpu,
        "extract_cpu_s_per_image": extract_cpu,
        "cpu_ratio_best": min(plain_cpu) / min(extract_cpu),
        "goal": GOAL,
        "goal_met": best_ratio >= GOAL,
    }


@dataclass
class Bench:
    """What every measurement shares: the encoder, the images, the loader settings and the decode path."""

    trunk: ResNet50Trunk
    fingerprint: str
    preprocessing: Preprocessing
    reader: JpegFolder
    warm_reader: JpegFolder
    batch_size: int
    workers: int
    device: str
    decode: str

    def plain(self, reader: JpegFolder, blocks: tuple[str, ...], compute: str) -> Timing:
        return timed(
            lambda: plain_forward(
                self.trunk,
                reader,
                self.preprocessing,
                blocks,
                self.batch_size,
                self.workers,
                self.device,
                compute,
                self.decode,
            ),
            self.device,
        )

    def extract(
        self, reader: JpegFolder, blocks: tuple[str, ...], root: Path, compute: str
    ) -> tuple[Timing, ExtractStats, dict[str, FeatureStore]]:
        """harness.extract.extract of `blocks` into fresh stores under `root` (creation untimed):
        its timing, its stats (the forward's wait on the writer) and the stores."""
        shutil.rmtree(root, ignore_errors=True)
        gc.collect()
        stores = open_stores(root, reader, self.preprocessing, self.fingerprint, blocks, compute)
        stats: list[ExtractStats] = []
        timing = timed(
            lambda: stats.append(
                extract(
                    self.trunk,
                    reader,
                    self.preprocessing,
                    stores,
                    "bench/train",
                    self.batch_size,
                    self.device,
                    self.workers,
                    compute=compute,
                    decode=self.decode,
                )
            ),
            self.device,
        )
        return timing, stats[0], stores


def measure_config(
    bench: Bench, config: Config, compute: str, repeats: int, scratch: Path
) -> tuple[dict, dict[str, FeatureStore]]:
    """Warm up on one batch, then alternate plain and extract runs in `compute`; returns the summary
    (with the forward's wait on the writer per run) and the last stores."""
    images = len(bench.reader)
    print(f"[{compute} {config.name}] warm-up, then {repeats} x (plain, extract) over {images} images", flush=True)
    bench.plain(bench.warm_reader, config.blocks, compute)
    bench.extract(bench.warm_reader, config.blocks, scratch / "warm", compute)
    shutil.rmtree(scratch / "warm")
    plain, extracted, stalls, drains = [], [], [], []
    for repeat in range(repeats):
        plain.append(bench.plain(bench.reader, config.blocks, compute))
        timing, stats, stores = bench.extract(bench.reader, config.blocks, scratch / "cache", compute)
        extracted.append(timing)
        stalls.append(stats.stall_seconds)
        drains.append(stats.drain_seconds)
        print(
            f"  run {repeat + 1}: plain {images / plain[-1].wall:.2f} img/s, "
            f"extract {images / extracted[-1].wall:.2f} img/s, forward waited {stalls[-1]:.2f}s on the writer",
            flush=True,
        )
    summary = summarize(images, plain, extracted)
    return {
        "blocks": list(config.blocks),
        "compute": compute,
        **summary,
        "stall_s": stalls,
        "drain_s": drains,
        "stall_fraction": [stall / t.wall for stall, t in zip(stalls, extracted)],
    }, stores


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, as the JSON-able record written to --out."""
    started = time.perf_counter()
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: load average {os.getloadavg()[0]:.1f} at start; other jobs will make the numbers noisy",
            flush=True,
        )
    results: dict[str, Any] = {
        "machine": machine_info(args.device),
        "settings": {
            "images": args.images,
            "size": args.size,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "decode": resolve_decode(args.decode, args.device),
            "computes": [resolve_compute(name, args.device) for name in args.compute],
            "source_jpeg": list(SOURCE_SIZE),
            "repeats": args.repeats,
            "encoder": ENCODER,
            "configs": {c.name: list(c.blocks) for c in args.blocks},
            "codec_images": args.codec_images,
            "reported": "best of repeats; medians, paired ratios and CPU s/img also given",
        },
        "decode_img_s": {},
        "throughput": {},
        "write_alone": {},
        "bytes_per_image": {},
        "phase_seconds": {},
    }
    trunk, spec = load_encoder(ENCODER)
    with tempfile.TemporaryDirectory(prefix="ccbench-bench-") as tmp:
        scratch = Path(tmp)
        bench = Bench(
            trunk.to(args.device),
            spec.fingerprint,
            Preprocessing(size=(args.size, args.size)),
            write_jpegs(scratch / "data", args.images, seed=0),
            write_jpegs(scratch / "warm-data", args.batch_size, seed=1),
            args.batch_size,
            args.workers,
            args.device,
            results["settings"]["decode"],
        )
        for name in DECODES:
            rate = decode_rate(bench.reader, bench.preprocessing, name, args.batch_size, args.device)
            results["decode_img_s"][name] = rate
            print(f"decode {name}: {rate:.0f} img/s", flush=True)
        for compute in results["settings"]["computes"]:
            for config in args.blocks:
                phase = time.perf_counter()
                label = f"{compute}/{config.name}"
                results["throughput"][label], stores = measure_config(bench, config, compute, args.repeats, scratch)
                results["phase_seconds"][label] = time.perf_counter() - phase
                phase = time.perf_counter()
                seconds = write_alone(stores, scratch / "write")
                results["write_alone"][label] = {
                    "seconds": seconds,
                    "total_seconds": sum(seconds.values()),
                    "img_s": args.images / sum(seconds.values()),
                }
                results["phase_seconds"][f"{label} write alone"] = time.perf_counter() - phase
                for block, store in stores.items():
                    raw = int(np.prod(store.features.shape[1:])) * 2
                    stored = chunk_bytes(store) / args.images
                    results["bytes_per_image"][block] = {
                        "raw_fp16": raw,
                        "stored": stored,
                        "ratio": raw / stored,
                        "unit_rows": store.unit_size,
                        "chunk_rows": store.features.chunks[0],
                    }
        # The codec table runs on the last configuration's stores (all six blocks by default).
        print(f"codec comparison on {', '.join(stores)} ...", flush=True)
        phase = time.perf_counter()
        table = codec_table(stores, args.codec_images, scratch)
        results["phase_seconds"]["codecs"] = time.perf_counter() - phase
    results["codecs"] = {
        "chosen": codec_label(compressors()),
        "per_block": table,
        "totals": codec_totals(table),
        "winners_per_block": {block: winners(rows) for block, rows in table.items()},
    }
    results["codecs"]["winners_overall"] = winners(results["codecs"]["totals"])
    results["runtime_s"] = time.perf_counter() - started
    results["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    return results


def report(results: dict[str, Any]) -> str:
    """The human-readable tables printed to stdout."""
    settings, machine = results["settings"], results["machine"]
    out = [
        f"\nccbench extraction benchmark: {settings['images']} images at {settings['size']} px, batch "
        f"{settings['batch_size']}, workers {settings['workers']}, device {machine['device']} "
        f"({machine['device_name']}), torch {machine['torch']} x{machine['torch_threads']} threads, "
        f"{machine['cpu_count']} CPUs; best of {settings['repeats']} runs; load average "
        f"{machine['load_average_1m_at_start']:.1f} at start, {machine['load_average_1m_at_end']:.1f} at end"
    ]
    out.append(
        "\nDecoding alone (read, decode, resize, onto the device; img/s): "
        + ", ".join(f"{name} {rate:.0f}" for name, rate in results["decode_img_s"].items())
        + f"; both sides below decode with {settings['decode']}"
    )
    rows = [
        (
            name,
            "+".join(t["blocks"]) if len(t["blocks"]) < 6 else "stem..layer4+pool",
            t["plain_best"],
            t["extract_best"],
            t["ratio_best"],
            "yes" if t["goal_met"] else "NO",
            " ".join(f"{r:.2f}" for r in t["paired_ratios"]),
            min(t["plain_cpu_s_per_image"]),
            min(t["extract_cpu_s_per_image"]),
            t["cpu_ratio_best"],
            max(t["stall_fraction"]),
        )
        for name, t in results["throughput"].items()
    ]
    out += [
        "\nThroughput (images/s, best run; ratio = extract / plain, goal >= 0.90; pairs = each extract run / "
        "the plain run before it; CPU s/img of this process, best run; stall = the largest share of an "
        "extraction's time the forward waited on the writer)",
        format_table(
            (
                "config",
                "blocks",
                "plain",
                "extract",
                "ratio",
                "goal met",
                "pairs",
                "cpu plain",
                "cpu extract",
                "cpu ratio",
                "stall",
            ),
            rows,
        ),
    ]
    rows = [(name, w["total_seconds"], w["img_s"]) for name, w in results["write_alone"].items()]
    out += [
        "\nWrites alone (write_unit of every unit of every block, serially, nothing else running)",
        format_table(("config", "seconds", "img/s"), rows),
    ]
    rows = [
        (block, b["raw_fp16"] / 1e3, b["stored"] / 1e3, b["ratio"], b["unit_rows"], b["chunk_rows"])
        for block, b in results["bytes_per_image"].items()
    ]
    raw, stored = sum(row[1] for row in rows), sum(row[2] for row in rows)
    rows.append(("total", raw, stored, raw / stored, "", ""))
    out += [
        "\nBytes per image on disk (kB; stored = chunk files the extraction wrote / images)",
        format_table(("block", "raw fp16", "stored", "ratio", "unit rows", "chunk rows"), rows),
    ]
    codecs = results["codecs"]
    for block, table in [*codecs["per_block"].items(), ("all blocks (weighted)", codecs["totals"])]:
        rows = [
            (label + (" *" if label == codecs["chosen"] else ""), row["ratio"], row["encode_MBps"], row["decode_MBps"])
            for label, row in table.items()
        ]
        out += [
            f"\nCodecs on {block} (ratio = raw fp16 / stored; MB/s of raw fp16; * = store's choice)",
            format_table(("codec", "ratio", "encode MB/s", "decode MB/s"), rows),
        ]
    best = codecs["winners_overall"]
    out += [
        f"\nOverall: best ratio {best['ratio']}; fastest encode {best['encode_MBps']}; fastest decode "
        f"{best['decode_MBps']}; chosen {codecs['chosen']}",
        f"Total runtime {results['runtime_s']:.0f} s",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(report(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
