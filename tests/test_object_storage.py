"""Cache and results on an object store, against a real S3-compatible server (moto's, started on
127.0.0.1 here): URLs parse as locations, a killed extraction resumes to the stores a local run
writes, byte for byte, scoring reads them, damage is found by checksum, and the leaderboard is
built from the bucket."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from encoders import Preprocessing
from harness.cache import MAX_UNIT_ROWS, FeatureStore
from harness.cache_key import CacheKey
from harness.cli import main
from leaderboard.locations import Remote, location, write
from tests.distributed import REPO, environment, serial, store_bytes
from tests.test_distributed import extract_args

BUCKET = "ccbench-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free local port with one bucket; yields the standard AWS variables
    that point s3fs (and botocore) at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "CCBENCH_LEASE_S": "6",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        import fsspec

        fsspec.filesystem("s3").mkdir(BUCKET)
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def test_typed_folders_parse_as_local_paths_or_urls() -> None:
    assert location("s3://bucket/results/") == Remote("s3://bucket/results")
    assert location("file:///tmp/results") == Path("/tmp/results")
    assert location("results") == Path("results") and location("~/c") == Path("~/c").expanduser()
    assert str(Remote("gs://b/r") / "heads" / "x.pt") == "gs://b/r/heads/x.pt"
    assert Remote("s3://b/r/x.json").name == "x.json" and Remote("s3://b/r/x.json").parent == Remote("s3://b/r")


def test_remote_files_are_written_whole_and_listed_one_level(s3: dict[str, str]) -> None:
    folder = Remote(f"s3://{BUCKET}/listing")
    write(folder / "a.json", "{}")
    write(folder / "heads" / "b.json", b"[]")
    assert [p.name for p in folder.glob("*.json")] == ["a.json"]
    assert (folder / "heads" / "b.json").read_text() == "[]" and folder.is_dir()
    assert not (folder / "c.json").exists() and Remote(f"s3://{BUCKET}/none").glob("*") == []


def bucket_bytes(url: str) -> dict[str, bytes]:
    """The objects of the stores under `url`, named and masked as tests.distributed.store_bytes does."""
    root = location(url)
    out = {}
    for key in sorted(root.fs.find(f"{root.key}/features")):
        if key.endswith(".lease"):
            continue
        data = root.fs.cat_file(key)
        if key.endswith(".zarr/zarr.json"):
            meta = json.loads(data)
            meta["attributes"].pop("created", None)
            data = json.dumps(meta, sort_keys=True).encode()
        out[key.removeprefix(f"{root.key}/")] = data
    return out


@pytest.mark.e2e
def test_killed_extraction_on_s3_resumes_scores_and_ranks_from_the_bucket(
    s3: dict[str, str], cifar_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cache, results = f"s3://{BUCKET}/run/cache", f"s3://{BUCKET}/run/results"
    local = serial(extract_args(cifar_root, tmp_path / "local"))
    assert local.returncode == 0, local.stderr

    killed = subprocess.run(
        [sys.executable, "-m", "tests.dist_killed", *extract_args(cifar_root, cache)],
        cwd=REPO,
        env=environment({**s3, "CCBENCH_TEST_KILL_AFTER": "1"}),
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr
    partial = bucket_bytes(cache)
    assert sum("/features/c/" in key for key in partial) == 1, "the one unit written before the kill is kept"
    assert location(cache).fs.glob(f"{BUCKET}/run/cache/features/*/*.zarr.lease"), "the dead writer's lease stays"

    resumed = serial(extract_args(cifar_root, cache))
    assert resumed.returncode == 0, resumed.stderr
    assert "lease expired" in resumed.stderr
    assert bucket_bytes(cache) == store_bytes(tmp_path / "local"), "the same stores as a local run, byte for byte"

    common = ["--data-root", str(cifar_root), "--cache", cache, "--results", results, "--quiet", "--workers", "0"]
    scored = ["score", "--encoder", "random:0", "--task", "cifar100", "--image-size", "64", "--epochs", "1"]
    assert main([*scored, *common, "--device", "cpu"]) == 0
    (result,) = location(results).glob("*__cifar100__*.json")
    recorded = json.loads(result.read_text())
    assert recorded["timings"]["extract"] == 0.0, "scoring read the stores from the bucket"
    assert location(f"{cache}/labels").fs.glob(f"{BUCKET}/run/cache/labels/*/*.npy.sha256")

    assert main(["leaderboard", "--results", results, "--out", str(tmp_path / "board"), "--include-overrides"]) == 0
    with open(tmp_path / "board" / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["name"] for row in rows] == ["random:0"] and float(rows[0]["cifar100"]) == pytest.approx(
        recorded["score"]
    )

    root = location(cache)
    (chunk,) = sorted(k for k in root.fs.find(f"{root.key}/features") if k.endswith("/features/c/0/0"))[:1]
    root.fs.pipe_file(chunk, root.fs.cat_file(chunk)[:-8] + b"\0" * 8)
    capsys.readouterr()
    assert main(["cache", "verify", "--cache", cache]) == 1
    report = capsys.readouterr().out
    assert re.search(r"rows 0-\d+: fails to decode", report) and "1 damaged" in report, "crc32c finds the damage"
    assert main(["cache", "verify", "--repair", "--cache", cache]) == 1
    rebuilt = serial(extract_args(cifar_root, cache))  # one thread, as the local reference ran
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert bucket_bytes(cache) == store_bytes(tmp_path / "local"), "repair rebuilt exactly the damaged unit"


def test_ranks_flags_on_s3_merge_after_the_barrier_or_on_resume(s3: dict[str, str]) -> None:
    """With no lock for the flags on an object store, a non-holding rank records its units in its own
    file; the holder merges them after the barrier, or when a killed run is resumed; the shards are
    read back directly (harness.shards) by ranged GETs."""
    cache = f"s3://{BUCKET}/flags"
    n = 2 * MAX_UNIT_ROWS + 5
    key = CacheKey.build("e" * 64, "m" * 64, n, Preprocessing(size=(32, 32)).key(), "pool")
    values = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float16)
    rows = [range(u * MAX_UNIT_ROWS, min((u + 1) * MAX_UNIT_ROWS, n)) for u in range(3)]

    holder = FeatureStore.open_for_write(cache, key, (8,), "toy/train")
    other = FeatureStore.open_for_rank(cache, key, 1)
    holder.write_unit(0, values[rows[0].start : rows[0].stop])
    other.write_unit(1, values[rows[1].start : rows[1].stop])
    assert holder.pending_units() == [1, 2], "the other rank's flag is in its own file until merged"
    assert json.loads((holder.path / "flags.rank1.json").read_text()) == [1]
    holder.merge_rank_flags()
    assert holder.pending_units() == [2] and holder.rank_flags() == []

    other.write_unit(2, values[rows[2].start : rows[2].stop])
    holder.close()  # killed before the barrier: the next run's holder merges on resuming
    resumed = FeatureStore.open_for_write(cache, key, (8,), "toy/train")
    assert resumed.pending_units() == [] and resumed.rank_flags() == []
    resumed.mark_complete()
    resumed.close()
    np.testing.assert_array_equal(FeatureStore.open_complete(cache, key).read_all(), values)
