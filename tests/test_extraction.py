"""Extraction at the encoder's speed: the compute choice in the cache key, bf16 against fp32, the
decode paths against PIL's pixels, the writer thread doing the work after the forward, and an
interrupted bf16 extraction resuming into its own store."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from encoders import Preprocessing, load_encoder
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.compute import BF16_CL, FP32, default_compute, resolve_compute
from harness.extract import extract
from harness.loader import ImageDataset, image_loader, jpeg_channels, key_decoder, resolve_decode
from harness.options import ScoreOptions
from harness.plan import plan
from harness.prepare import run_extraction
from tasks import get_task
from tasks.errors import DataCorrupt
from tasks.readers import DTD, Cifar100
from tests.writers.dtd import write_dtd

PRE = Preprocessing(size=(64, 64))
BF16_TOLERANCE = 0.03
"""Relative L2 error of bf16-cl features against fp32 (measured about 0.4-1% on a random-init
trunk at 64 and 224 px; bf16 keeps 8 bits of mantissa, 0.4% per rounding)."""


@pytest.fixture
def dtd_folder(tmp_path: Path) -> Path:
    """A DTD fixture (JPEG files, a FileListReader) with every kind of file the decoders meet:
    grey, 4:4:4, progressive and odd-sized JPEGs, a CMYK JPEG and a PNG named .jpg."""
    folder = write_dtd(tmp_path, per_class=6, size=40)
    reader = DTD(folder, "train")
    paths = [folder / "images" / image_id.removeprefix("images/") for image_id in reader.image_ids()]
    rng = np.random.default_rng(3)
    smooth = Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).resize((77, 101), Image.BILINEAR)
    smooth.convert("L").save(paths[0], "JPEG", quality=90)
    smooth.save(paths[1], "JPEG", quality=90, subsampling=0)
    smooth.save(paths[2], "JPEG", quality=90, progressive=True)
    smooth.convert("CMYK").save(paths[3], "JPEG", quality=90)
    smooth.save(paths[4], "PNG")
    return folder


def options_for(tmp_path: Path, compute: str, decode: str = "pil") -> ScoreOptions:
    return ScoreOptions(
        data_root=tmp_path,
        cache_root=tmp_path / "cache",
        results_dir=tmp_path / "results",
        batch_size=8,
        compute=compute,
        decode=decode,
    )


def test_compute_and_decode_choices_resolve_by_device() -> None:
    assert resolve_compute("auto", "cpu") == FP32 == default_compute("cpu") == resolve_compute("fp32", "cuda")
    assert resolve_compute("bf16", "cpu") == BF16_CL
    assert resolve_decode("auto", "cpu") == "jpeg" and resolve_decode("auto", "cuda:1") == "device"
    with pytest.raises(ValueError, match="valid values are auto, fp32, bf16"):
        resolve_compute("fp16", "cpu")
    standard = ScoreOptions(Path("d"), Path("c"), Path("r"))
    bf16 = ScoreOptions(Path("d"), Path("c"), Path("r"), compute=BF16_CL)
    assert standard.overrides() == {} and bf16.overrides() == {"compute": BF16_CL}
    assert bf16.protocol_tag() != standard.protocol_tag()


def test_fp32_and_bf16_fill_two_stores_whose_features_agree(dtd_folder: Path, tmp_path: Path) -> None:
    trunk, spec = load_encoder("random:0")
    task = get_task("dtd")
    readers = {task.id: {"test": DTD(dtd_folder, "test")}}
    jobs = {}
    for compute in (FP32, BF16_CL):
        options = options_for(tmp_path, compute)
        job = plan(spec, [task], readers, 64, **options.extraction())[(task.id, "test")]
        assert run_extraction(trunk, job, options) > 0
        jobs[compute] = job
    fp32, bf16 = (FeatureStore.open_complete(tmp_path / "cache", jobs[c].keys["pool"]) for c in (FP32, BF16_CL))
    assert fp32.key.compute == FP32 and bf16.key.compute == BF16_CL
    assert fp32.path != bf16.path and fp32.key.preprocessing == bf16.key.preprocessing
    exact, fast = fp32.read_all(), bf16.read_all()
    assert exact.dtype == fast.dtype == np.float16 and np.isfinite(fast).all()
    error = np.linalg.norm(fast.astype(np.float32) - exact) / np.linalg.norm(exact.astype(np.float32))
    assert 0 < error < BF16_TOLERANCE
    assert run_extraction(trunk, jobs[BF16_CL], options_for(tmp_path, BF16_CL)) == 0.0  # found, not redone


def test_jpeg_paths_give_pil_pixels_and_odd_files_fall_back(dtd_folder: Path) -> None:
    reader = DTD(dtd_folder, "train")
    data = [reader.encoded(index) for index in range(5)]
    assert [jpeg_channels(d) if d else None for d in data] == [1, 3, 3, 4, None]  # the PNG has no JPEG bytes
    pil = torch.stack([ImageDataset(reader, range(len(reader)), PRE)[k][1] for k in range(len(reader))])
    jpeg = torch.stack([ImageDataset(reader, range(len(reader)), PRE, "jpeg")[k][1] for k in range(len(reader))])
    assert torch.equal(pil, jpeg)
    device = torch.cat([images for _, images in image_loader(reader, range(len(reader)), PRE, 5, 0, "device")])
    assert torch.equal(pil, device)
    assert ImageDataset(reader, [0], PRE, "device")[0][1].dtype == torch.uint8  # left to the device to decode


def test_only_gpu_decoding_of_jpeg_files_marks_the_key(dtd_folder: Path, tiny_cifar_root: Path) -> None:
    jpegs, arrays = DTD(dtd_folder, "train"), Cifar100(tiny_cifar_root / "cifar-100-python", "test")
    assert key_decoder("device", "cuda", jpegs) == "nvjpeg"
    assert key_decoder("device", "cpu", jpegs) is None and key_decoder("jpeg", "cuda", jpegs) is None
    assert key_decoder("device", "cuda", arrays) is None
    _, spec = load_encoder("random:0")
    task = get_task("dtd")
    keys = [
        plan(spec, [task], {task.id: {"train": jpegs}}, 64, decode=decode, device=device)[(task.id, "train")]
        .keys["pool"]
        .digest
        for decode, device in (("pil", "cpu"), ("jpeg", "cpu"), ("device", "cuda"))
    ]
    assert keys[0] == keys[1] != keys[2]


def test_the_writer_thread_checks_converts_and_writes(
    tiny_cifar_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trunk, spec = load_encoder("random:0")
    reader = Cifar100(tiny_cifar_root / "cifar-100-python", "test")
    threads = set()
    original = FeatureStore.write_unit

    def write_unit(self: FeatureStore, unit: int, values: np.ndarray) -> None:
        threads.add(threading.current_thread().name)
        original(self, unit, values)

    monkeypatch.setattr(FeatureStore, "write_unit", write_unit)
    key = CacheKey.build(spec.fingerprint, reader.manifest_digest, len(reader), PRE.key(), "pool", compute=BF16_CL)
    store = FeatureStore.open_for_write(tmp_path, key, (2048,), "cifar/test")
    stats = extract(trunk, reader, PRE, {"pool": store}, "cifar/test", batch_size=16, compute=BF16_CL)
    assert threads == {"ccbench-writer"} and stats.images == len(reader) and stats.compute == BF16_CL
    assert 0 <= stats.stall_seconds < stats.seconds and 0 <= stats.drain_seconds < stats.seconds
    assert trunk.conv1.weight.is_contiguous()  # the layout goes back for the encoder's other users


class Interrupted(Cifar100):
    """Fails on one image, as a corrupt file stops a run halfway."""

    broken: int | None = None

    def image(self, index: int) -> np.ndarray:
        if index == self.broken:
            raise DataCorrupt(f"image {index}: cannot decode")
        return super().image(index)


def test_an_interrupted_bf16_extraction_resumes_into_the_same_store(
    tiny_cifar_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.cache.UNIT_BYTES", 300_000)  # layer2 at 64 px: 64 kB per image -> 4-row units
    trunk, spec = load_encoder("random:0")
    reader = Interrupted(tiny_cifar_root / "cifar-100-python", "test")
    task = dataclasses.replace(get_task("cifar100"), blocks=("layer2",))
    jobs = {
        root: plan(spec, [task], {task.id: {"test": reader}}, 64, compute=BF16_CL)[(task.id, "test")]
        for root in ("resumed", "clean")
    }
    job = jobs["resumed"]
    options = options_for(tmp_path / "resumed", BF16_CL)
    reader.broken = 40
    with pytest.raises(DataCorrupt, match="image 40"):
        run_extraction(trunk, job, options)
    half = FeatureStore.open_for_write(options.cache_root, job.keys["layer2"], job.item_shape("layer2"), "c")
    done = [unit for unit in range(half.n_units) if unit not in half.pending_units()]
    assert done and half.pending_units() and not half.complete
    before = half.features[: half.unit_size * len(done)]
    reader.broken = None
    assert run_extraction(trunk, job, options) > 0
    again = FeatureStore.open_complete(options.cache_root, job.keys["layer2"])
    assert again is not None and again.path == half.path and again.key.compute == BF16_CL
    values = again.read_all()
    np.testing.assert_array_equal(values[: len(before)], before)  # committed units are kept, not redone
    clean = options_for(tmp_path / "clean", BF16_CL)
    run_extraction(trunk, jobs["clean"], clean)
    reference = FeatureStore.open_complete(clean.cache_root, jobs["clean"].keys["layer2"]).read_all()
    error = np.linalg.norm((values - reference).astype(np.float32)) / np.linalg.norm(reference.astype(np.float32))
    assert error < 1e-3
