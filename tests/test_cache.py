"""Feature stores: round trip, key checks, resumable extraction, corruption and disk-full errors."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from encoders import Preprocessing, load_encoder
from harness.cache import MAX_UNIT_ROWS, UNIT_BYTES, FeatureStore, list_stores, unit_rows_for
from harness.cache_key import CacheKey
from harness.errors import CacheError, CacheKeyMismatch, CorruptChunk, NonFiniteFeatures
from harness.extract import extract
from harness.sources import StreamedFeatures
from tasks.readers import Cifar100

PRE = Preprocessing(size=(32, 32))


def make_key(n: int, block: str = "pool", encoder: str = "e" * 64) -> CacheKey:
    return CacheKey.build(encoder, "m" * 64, n, PRE.key(), block)


def test_round_trip_units_and_attributes(tmp_path: Path) -> None:
    n = MAX_UNIT_ROWS + 17
    key = make_key(n, "layer4")
    store = FeatureStore.open_for_write(tmp_path, key, (2048, 1, 1), "toy/train")
    assert store.pending_units() == [0, 1]
    values = np.random.default_rng(0).normal(size=(n, 2048, 1, 1)).astype(np.float16)
    store.write_unit(1, values[MAX_UNIT_ROWS:])
    assert store.pending_units() == [0]
    assert FeatureStore.open_complete(tmp_path, key) is None
    store.write_unit(0, values[:MAX_UNIT_ROWS])
    store.mark_complete()
    reopened = FeatureStore.open_complete(tmp_path, key)
    assert reopened is not None and reopened.path == tmp_path / key.relpath()
    np.testing.assert_array_equal(reopened.read_all(), values)
    attrs = dict(zarr.open_group(reopened.path, mode="r").attrs)
    assert attrs["key"] == key.to_dict() and attrs["digest"] == key.digest and attrs["ccbench_version"]
    assert reopened.features.chunks == (1, 2048, 1, 1) and reopened.verify() == []


def test_every_key_field_changes_the_path() -> None:
    base = make_key(10)
    variants = [
        make_key(11),
        make_key(10, "layer4"),
        make_key(10, encoder="f" * 64),
        CacheKey.build("e" * 64, "n" * 64, 10, PRE.key(), "pool"),
        CacheKey.build("e" * 64, "m" * 64, 10, Preprocessing(size=(64, 64)).key(), "pool"),
        CacheKey.build("e" * 64, "m" * 64, 10, PRE.key(), "pool", view="crop0"),
    ]
    assert len({base.digest, *(v.digest for v in variants)}) == len(variants) + 1


def test_store_recording_another_key_is_never_read(tmp_path: Path) -> None:
    key, other = make_key(4), make_key(5)
    store = FeatureStore.open_for_write(tmp_path, other, (2048,), "toy/train")
    # Plant the other key's store at this key's path, as a bad copy or a tampered cache would.
    target = FeatureStore.path_for(tmp_path, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    store.path.rename(target)
    with pytest.raises(CacheKeyMismatch, match=f"{target}: records another key"):
        FeatureStore.open_complete(tmp_path, key)
    with pytest.raises(CacheKeyMismatch):
        FeatureStore.open_for_write(tmp_path, key, (2048,), "toy/train")


def test_damaged_chunk_fails_loudly(tmp_path: Path) -> None:
    key = make_key(8)
    store = FeatureStore.open_for_write(tmp_path, key, (2048,), "toy/train")
    store.write_unit(0, np.ones((8, 2048), np.float16))
    store.mark_complete()
    chunk = store.path / "features" / "c" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    problems = FeatureStore.open_path(store.path).verify()
    assert len(problems) == 1 and problems[0].startswith("rows 0-7: fails to decode")
    with pytest.raises(CorruptChunk, match="rows 0-7: fails to decode.*ccbench cache verify --repair") as caught:
        FeatureStore.open_complete(tmp_path, key).read_all()
    assert caught.value.path == store.path and caught.value.units == (0,)


def test_absent_chunk_of_a_finished_unit_is_damage_not_zeros(tmp_path: Path) -> None:
    """Zarr reads a missing chunk file as the fill value; the store names the rows instead."""
    key = make_key(MAX_UNIT_ROWS * 2)
    store = FeatureStore.open_for_write(tmp_path, key, (2048,), "toy/train")
    for unit in store.pending_units():
        store.write_unit(unit, np.ones((MAX_UNIT_ROWS, 2048), np.float16))
    store.mark_complete()
    store.close()
    (store.path / "features" / "c" / "1" / "0").unlink()
    assert FeatureStore.open_path(store.path).verify() == [
        f"rows {MAX_UNIT_ROWS}-{2 * MAX_UNIT_ROWS - 1}: shard file missing"
    ]
    with pytest.raises(CorruptChunk, match=f"rows {MAX_UNIT_ROWS}-{2 * MAX_UNIT_ROWS - 1}: shard file missing"):
        FeatureStore.open_complete(tmp_path, key).read_all()
    assert not FeatureStore.ready(tmp_path, key)
    with FeatureStore.open_for_write(tmp_path, key, (2048,), "toy/train") as resumed:
        assert resumed.pending_units() == [1] and not resumed.complete


def test_disk_full_is_one_line_and_leaves_the_unit_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = make_key(8)
    store = FeatureStore.open_for_write(tmp_path, key, (2048,), "toy/train")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zarr.Array, "__setitem__", full)
    with pytest.raises(CacheError, match="disk full while writing the cache; free space or set CCBENCH_CACHE"):
        store.write_unit(0, np.ones((8, 2048), np.float16))
    monkeypatch.undo()
    assert store.pending_units() == [0]


def test_nan_features_are_refused_by_image(tiny_cifar_root: Path, tmp_path: Path) -> None:
    trunk, spec = load_encoder("random:0")
    with torch.no_grad():
        trunk.layer4[2].bn3.bias.fill_(float("nan"))
    reader = Cifar100(tiny_cifar_root / "cifar-100-python", "test")
    key = CacheKey.build(spec.fingerprint, reader.manifest_digest, len(reader), PRE.key(), "pool")
    store = FeatureStore.open_for_write(tmp_path, key, (2048,), "cifar/test")
    with pytest.raises(NonFiniteFeatures, match="synthetic_test_000000.png"):
        extract(trunk, reader, PRE, {"pool": store}, "cifar/test", batch_size=16)
    assert store.pending_units() == [0]


EXTRACT_SCRIPT = """
import sys, time
import torch
from encoders import Preprocessing, load_encoder
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.extract import extract
from harness.sources import StreamedFeatures
from tasks.readers import Cifar100

torch.set_num_threads(1)
root, cache, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])

class Slow(Cifar100):
    def image(self, index):
        time.sleep(slow)
        return super().image(index)

reader = Slow(root, "train")
trunk, spec = load_encoder("random:3")
pre = Preprocessing(size=(32, 32))
stores = {b: FeatureStore.open_for_write(cache, CacheKey.build(spec.fingerprint, reader.manifest_digest, len(reader),
          pre.key(), b), shape, "cifar/train") for b, shape in (("pool", (2048,)), ("layer3", (1024, 2, 2)))}
stats = extract(trunk, reader, pre, stores, "cifar/train", batch_size=32)
print(stats.images)
"""


def run_extract(data: Path, cache: Path, slow: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", EXTRACT_SCRIPT, str(data), str(cache), str(slow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def done_units(cache: Path) -> list[int]:
    done = []
    for path in list_stores(cache):
        try:
            done.append(int((zarr.open_group(path, mode="r")["done"][:] == 1).sum()))
        except Exception:
            done.append(0)
    return done


@pytest.mark.e2e
def test_killed_extraction_resumes_without_recomputing(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tasks.synthetic import write_cifar100

    data = write_cifar100(tmp_path_factory.mktemp("resume"), n_train=3 * MAX_UNIT_ROWS + 40, n_test=4, seed=2)
    killed, clean = tmp_path_factory.mktemp("killed"), tmp_path_factory.mktemp("clean")
    process = run_extract(data, killed, slow=0.004)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        counts = done_units(killed)
        if len(counts) == 2 and min(counts) >= 1:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, "the extraction finished before it could be killed"
    stores = [FeatureStore.open_path(p) for p in list_stores(killed)]
    assert not any(s.complete for s in stores)
    finished = {s.key.block: [u for u in range(s.n_units) if u not in s.pending_units()] for s in stores}
    pool = next(s for s in stores if s.key.block == "pool")

    def stamp(unit: int) -> tuple[int, int]:
        """A chunk rewritten through Zarr's atomic rename gets a new inode and mtime."""
        info = (pool.path / "features" / "c" / str(unit) / "0").stat()
        return info.st_ino, info.st_mtime_ns

    stamps = {unit: stamp(unit) for unit in finished["pool"]}
    assert stamps

    resumed = run_extract(data, killed, slow=0.0)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    rows_left = 3 * MAX_UNIT_ROWS + 40 - MAX_UNIT_ROWS * min(len(v) for v in finished.values())
    assert int(out.strip()) == rows_left
    assert {unit: stamp(unit) for unit in stamps} == stamps

    reference = run_extract(data, clean, slow=0.0)
    assert reference.wait(timeout=300) == 0
    for path in list_stores(killed):
        again = FeatureStore.open_path(path)
        twin = FeatureStore.open_path(clean / path.relative_to(killed))
        assert again.complete and twin.complete and not list(path.rglob("*.partial"))
        np.testing.assert_array_equal(again.read_all(), twin.read_all())


def test_unit_size_bounds_buffered_bytes() -> None:
    assert unit_rows_for((2048,)) == MAX_UNIT_ROWS
    assert unit_rows_for((64, 112, 112)) == 128  # 1.6 MB stem maps at 224 px: one 205 MB shard
    assert unit_rows_for((64, 257, 257)) * 2 * 64 * 257 * 257 <= UNIT_BYTES
    assert unit_rows_for((4096, 512, 512)) == 1


def test_blocks_with_different_unit_sizes_match_a_direct_forward(
    tiny_cifar_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.cache.UNIT_BYTES", 100_000)  # stem at 32 px: 32 KB per image -> 2-row units
    trunk, spec = load_encoder("random:0")
    reader = Cifar100(tiny_cifar_root / "cifar-100-python", "test")
    shapes = {"stem": (64, 16, 16), "layer2": (512, 4, 4), "pool": (2048,)}
    stores = {
        b: FeatureStore.open_for_write(
            tmp_path,
            CacheKey.build(spec.fingerprint, reader.manifest_digest, len(reader), PRE.key(), b),
            shape,
            "cifar/test",
        )
        for b, shape in shapes.items()
    }
    assert [stores[b].unit_size for b in shapes] == [2, 4, 16]
    stores["stem"].write_unit(3, np.zeros((2, 64, 16, 16), np.float16))  # a unit finished by an earlier run
    stats = extract(trunk, reader, PRE, stores, "cifar/test", batch_size=7)
    assert stats.images == len(reader)
    images = torch.stack([PRE(reader.image(i)) for i in range(len(reader))])
    direct = trunk(images, tuple(shapes))
    for block, store in stores.items():
        cached = FeatureStore.open_complete(tmp_path, store.key).read_all()
        expected = direct[block].numpy().astype(np.float16)
        if block == "stem":
            assert not cached[6:8].any()  # the finished unit was not rewritten
            cached, expected = np.delete(cached, [6, 7], 0), np.delete(expected, [6, 7], 0)
        np.testing.assert_allclose(cached.astype(np.float32), expected.astype(np.float32), rtol=2e-3, atol=2e-3)


def map_store(root: Path, n: int, monkeypatch: pytest.MonkeyPatch, values: np.ndarray | None = None) -> FeatureStore:
    """A finished store of `n` (8, 3, 3) maps in 4-row units (shards), the last one short."""
    monkeypatch.setattr("harness.cache.UNIT_BYTES", 4 * 2 * 8 * 3 * 3)
    store = FeatureStore.open_for_write(root, make_key(n, "layer3"), (8, 3, 3), "toy/train")
    values = maps(n) if values is None else values
    for unit in store.pending_units():
        rows = store.unit_rows(unit)
        store.write_unit(unit, values[rows.start : rows.stop])
    store.mark_complete()
    store.close()
    return store


def maps(n: int) -> np.ndarray:
    values = np.random.default_rng(n).standard_normal((n, 8, 3, 3)).astype(np.float16)
    values[1] = 0  # an all-zero image: its chunk must still be written into the shard
    return values


def test_sharded_store_round_trips_in_one_shard_per_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = maps(10)
    store = map_store(tmp_path, 10, monkeypatch, values)
    assert (store.unit_size, store.n_units, store.features.chunks, store.features.shards) == (
        4,
        3,
        (1, 8, 3, 3),
        (4, 8, 3, 3),
    )
    reopened = FeatureStore.open_complete(tmp_path, store.key)
    np.testing.assert_array_equal(reopened.read_all(), values)
    files = sorted(str(p.relative_to(store.path)) for p in store.path.rglob("*") if p.is_file())
    assert files == [
        "done/c/0",
        "done/zarr.json",
        "features/c/0/0/0/0",
        "features/c/1/0/0/0",
        "features/c/2/0/0/0",
        "features/zarr.json",
        "zarr.json",
    ]
    with reopened.open_shard(0) as shard:
        assert (shard.index[:, 0] != 2**64 - 1).all()  # the zero image has its chunk
    streamed = StreamedFeatures({"layer3": reopened}).batch(torch.tensor([9, 1, 4, 1]))["layer3"]
    np.testing.assert_array_equal(streamed.numpy(), values[[9, 1, 4, 1]].astype(np.float32))
    assert reopened.verify() == []


def test_a_store_of_many_images_holds_a_file_per_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = map_store(tmp_path, 401, monkeypatch)
    files = sum(1 for p in store.path.rglob("*") if p.is_file())
    assert files == store.n_units + 4 == 105  # shards, the flags and three metadata documents


def rewrite_index(shard: Path, edit) -> None:
    """Change a shard's index and give it a valid checksum, as a bad writer could have."""
    import google_crc32c

    raw = bytearray(shard.read_bytes())
    index = np.frombuffer(bytes(raw[-68:-4]), "<u8").reshape(-1, 2).copy()
    edit(index)
    body = index.tobytes()
    shard.write_bytes(bytes(raw[:-68]) + body + google_crc32c.value(body).to_bytes(4, "little"))


SHARD_DAMAGE = {
    "deleted": (Path.unlink, "rows 4-7: shard file missing"),
    "truncated": (
        lambda p: p.write_bytes(p.read_bytes()[:-30]),
        "rows 4-7: fails to decode (shard index fails its checksum)",
    ),
    "flipped": (
        lambda p: p.write_bytes(p.read_bytes()[:20] + bytes([p.read_bytes()[20] ^ 1]) + p.read_bytes()[21:]),
        None,
    ),
    "index gap": (
        lambda p: rewrite_index(p, lambda index: index.__setitem__(2, 2**64 - 1)),
        "rows 6-6: shard index lacks an image",
    ),
}


@pytest.mark.parametrize("kind", SHARD_DAMAGE)
def test_damaged_shard_names_its_rows_and_repair_extracts_only_its_unit(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = maps(10)
    store = map_store(tmp_path, 10, monkeypatch, values)
    damage, named = SHARD_DAMAGE[kind]
    kept = {u: store.shard_file(u).stat().st_ino for u in (0, 2)}
    damage(store.shard_file(1))
    if named is None:  # the first chunk's bytes: image 4 alone
        named = "rows 4-4: fails to decode (chunk fails its checksum)"
    assert FeatureStore.open_path(store.path).verify() == [named]
    with pytest.raises(CorruptChunk, match=re.escape(named)) as caught:
        FeatureStore.open_complete(tmp_path, store.key).read_all()
    with pytest.raises(CorruptChunk, match=re.escape(named)):
        StreamedFeatures({"layer3": store}).batch(torch.tensor([0, 4, 5, 6, 7]))
    assert caught.value.units == (1,)
    FeatureStore.repair(store.path, caught.value.units)
    assert not store.shard_file(1).exists()
    with FeatureStore.open_for_write(tmp_path, store.key, (8, 3, 3), "toy/train") as resumed:
        assert resumed.pending_units() == [1] and not resumed.complete
        resumed.write_unit(1, values[4:8])
        resumed.mark_complete()
    np.testing.assert_array_equal(FeatureStore.open_complete(tmp_path, store.key).read_all(), values)
    assert {u: store.shard_file(u).stat().st_ino for u in (0, 2)} == kept
