"""This machine's speeds, measured once and saved beside the cache, for the planner (harness.costs).

`calibrate` times the encoder (all five maps at 224), a training step of every dense head, and
the streaming reader on a fresh store on this disk; `save_calibration` keeps one entry per device
in `<cache>/calibration.json`.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from encoders import ResNet50Trunk
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.heads import build_head
from harness.sources import StreamedFeatures
from harness.train import head_kernels
from leaderboard.locations import Location, location, write
from tasks.spec import DENSE_HEADS, MULTI_FRAME_HEADS

CALIBRATION_FILE = "calibration.json"
REFERENCE = (224, 224)
"""The input size calibration measures at; estimates scale by pixels from it."""
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


def _train_step(
    head: torch.nn.Module, inputs: dict[str, torch.Tensor], device: str, bf16: bool, optimizer: torch.optim.Optimizer
) -> None:
    """One training step on a dummy loss: the cost a dense head pays per batch."""
    optimizer.zero_grad()
    with head_kernels(device, bf16):
        head(inputs).float().square().mean().backward()
    optimizer.step()


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
    for name in DENSE_HEADS:
        frames = 2 if name in MULTI_FRAME_HEADS else 1
        head = build_head(name, 2, seed=0, frames=frames).to(device)
        inputs = features if frames == 1 else {k: torch.stack([v, v], dim=1) for k, v in features.items()}
        heads[name] = batch_size / _timed(
            functools.partial(_train_step, head, inputs, device, bf16, torch.optim.Adam(head.parameters())), repeats
        )
    return Calibration(
        device=device,
        encoder_images_per_s=encoder,
        head_samples_per_s=heads,
        read_mb_per_s=_read_speed(features),
        measured=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def _read_speed(features: dict[str, torch.Tensor], images: int = 32) -> float:
    """MB/s of decoded features delivered by the streaming reader from a fresh store on this disk."""
    values = features["layer1"][:1].to("cpu", torch.float16).numpy()
    with tempfile.TemporaryDirectory() as folder:
        key = CacheKey.build("calibration", "random", images, {}, "layer1")
        store = FeatureStore.open_for_write(Path(folder), key, values.shape[1:], "calibration")
        noise = np.random.default_rng(0).standard_normal((images, *values.shape[1:])).astype(np.float16)
        for unit in store.pending_units():
            rows = store.unit_rows(unit)
            store.write_unit(unit, (noise[rows.start : rows.stop] * 0.1 + values).astype(np.float16))
        store.mark_complete()
        store.close()
        source = StreamedFeatures({"layer1": store})
        started = time.perf_counter()
        for _ in source.batches([torch.arange(start, min(start + 8, images)) for start in range(0, images, 8)]):
            pass
        return source.bytes_read / 1e6 / (time.perf_counter() - started)


def save_calibration(cache_root: Location, calibration: Calibration) -> Location:
    path = location(cache_root) / CALIBRATION_FILE
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[calibration.device] = asdict(calibration)
    return write(path, json.dumps(saved, indent=2))


def load_calibration(cache_root: Location, device: str) -> Calibration | None:
    path = location(cache_root) / CALIBRATION_FILE
    if not path.exists():
        return None
    entry = json.loads(path.read_text()).get(device)
    return Calibration(**entry) if entry else None
