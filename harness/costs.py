"""Whether a dense head should train from the feature cache or with the encoder in the loop.

For a dense head the encoder is a small share of the compute, while its five maps are 30 times
larger than the image: reading 4.6 MB per image beats recomputing on a CPU, while on a fast GPU
recomputing from decoded inputs can beat the disk. `calibrate` measures this machine (encoder and
head images/s at 224, cache read MB/s) and saves it beside the cache; `estimate` turns those rates
and a task's sizes into seconds per epoch of each mode, and `choose` picks the cheaper over the
task's epochs (the cache pays one extraction pass first) within the disk budget.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from encoders import ResNet50Trunk, block_shape
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.heads import build_head
from harness.stream import StreamedFeatures
from harness.train import head_kernels
from safefiles import write_atomic
from tasks.spec import TaskSpec

CALIBRATION_FILE = "calibration.json"
COMPRESSION = 1.69
"""Raw / stored bytes of all five maps, measured by bench/extract.py (Blosc zstd-1 + shuffle)."""
REFERENCE = (224, 224)


@dataclass(frozen=True)
class Calibration:
    """This machine's rates at 224 x 224 (per image or sample)."""

    device: str
    encoder_images_per_s: float
    head_samples_per_s: dict[str, float]
    read_mb_per_s: float
    measured: str = ""


def _timed(step, repeats: int) -> float:
    """Seconds per call of `step`, after one warm-up call, synchronising a GPU."""
    step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def calibrate(device: str, batch_size: int = 8, repeats: int = 3) -> Calibration:
    """Measure the encoder, each dense head's training step and the cache read speed."""
    trunk = ResNet50Trunk().to(device).eval()
    bf16 = torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported()
    blocks = ("stem", "layer1", "layer2", "layer3", "layer4")
    images = torch.randn(batch_size, 3, *REFERENCE, device=device)
    with torch.no_grad():
        encoder = batch_size / _timed(lambda: trunk(images, blocks), repeats)
        features = trunk(images, blocks)
    heads = {}
    for name, frames in (("unet", 1), ("deeplabv3plus", 1), ("siamese_unet", 2)):
        head = build_head(name, 2, seed=0, frames=frames).to(device)
        inputs = features if frames == 1 else {k: torch.stack([v, v], dim=1) for k, v in features.items()}
        optimizer = torch.optim.Adam(head.parameters())

        def step() -> None:
            optimizer.zero_grad()
            with head_kernels(device, bf16):
                head(inputs).float().square().mean().backward()
            optimizer.step()
        heads[name] = batch_size / _timed(step, repeats)
    return Calibration(device=device, encoder_images_per_s=encoder, head_samples_per_s=heads,
                       read_mb_per_s=_read_speed(features), measured=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _read_speed(features: dict[str, torch.Tensor], images: int = 32) -> float:
    """MB/s of decoded features delivered by the streaming reader from a fresh store on this disk."""
    values = features["layer1"][:1].to("cpu", torch.float16).numpy()
    with tempfile.TemporaryDirectory() as folder:
        key = CacheKey.build("calibration", "random", images, {}, "layer1")
        store = FeatureStore.open_for_write(Path(folder), key, values.shape[1:], "calibration")
        noise = np.random.default_rng(0).standard_normal((images, *values.shape[1:])).astype(np.float16)
        for unit in store.pending_units():
            rows = store.unit_rows(unit)
            store.write_unit(unit, (noise[rows.start:rows.stop] * 0.1 + values).astype(np.float16))
        store.mark_complete()
        store.close()
        source = StreamedFeatures({"layer1": store})
        started = time.perf_counter()
        for _ in source.batches([torch.arange(start, min(start + 8, images)) for start in range(0, images, 8)]):
            pass
        return source.bytes_read / 1e6 / (time.perf_counter() - started)


def save_calibration(cache_root: Path, calibration: Calibration) -> Path:
    path = Path(cache_root) / CALIBRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[calibration.device] = asdict(calibration)
    return write_atomic(path, json.dumps(saved, indent=2))


def load_calibration(cache_root: Path, device: str) -> Calibration | None:
    path = Path(cache_root) / CALIBRATION_FILE
    if not path.exists():
        return None
    entry = json.loads(path.read_text()).get(device)
    return Calibration(**entry) if entry else None


@dataclass(frozen=True)
class Estimate:
    """One task's training under each mode, per epoch and in total over its epochs."""

    task: str
    blocks: tuple[str, ...]
    views: int
    rows: int
    raw_bytes: int
    stored_bytes: int
    cache_epoch_s: float | None
    loop_epoch_s: float | None
    cache_total_s: float | None
    loop_total_s: float | None
    choice: str
    reason: str


def memory_budget(device: str) -> int:
    """Bytes of cached maps a split may hold in memory instead of streaming them: half the free
    memory of a GPU, a quarter of the host's available memory otherwise (the rest is for the head,
    its optimiser and the other split)."""
    if torch.device(device).type == "cuda":
        return int(0.5 * torch.cuda.mem_get_info(torch.device(device))[0])
    return int(0.25 * os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def map_bytes(blocks: tuple[str, ...], size: tuple[int, int], images: int) -> int:
    """Raw float16 bytes of `blocks` for `images` inputs of `size`."""
    return images * sum(2 * int(np.prod(block_shape(block, size))) for block in blocks)


def estimate(task: TaskSpec, rows: int, views: int, size: tuple[int, int], epochs: int,
             calibration: Calibration | None, budget: int | None, memory: int = 0) -> Estimate:
    """Bytes and seconds of training `rows` samples (views included) for `epochs`; picks a mode.
    Maps of at most `memory` bytes are held in memory after one read, so the cache then costs only
    the head's compute per epoch."""
    images = rows * task.frames
    raw = map_bytes(task.blocks, size, images)
    stored = int(raw / COMPRESSION)
    held = raw <= memory
    over = budget is not None and stored > budget
    if calibration is None:
        choice = "loop" if over else "cache"
        reason = "over the cache budget" if over else "not calibrated (run `ccbench calibrate`): cache by default"
        return Estimate(task.id, task.blocks, views, rows, raw, stored, None, None, None, None, choice, reason)
    scale = (size[0] * size[1]) / (REFERENCE[0] * REFERENCE[1])
    head = rows * scale / calibration.head_samples_per_s[task.head]
    encoder = images * scale / calibration.encoder_images_per_s
    cache_epoch = head if held else max(head, raw / 1e6 / calibration.read_mb_per_s)
    loop_epoch = encoder + head
    cache_total, loop_total = encoder + epochs * cache_epoch, epochs * loop_epoch
    if over:
        choice, reason = "loop", "over the cache budget"
    else:
        choice = "cache" if cache_total <= loop_total else "loop"
        reason = "faster by the estimate" + (", maps held in memory" if held and choice == "cache" else "")
    return Estimate(task.id, task.blocks, views, rows, raw, stored, cache_epoch, loop_epoch, cache_total, loop_total,
                    choice, reason)
