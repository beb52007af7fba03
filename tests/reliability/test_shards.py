"""Sharded stores under processes that die or write side by side: a kill between a unit's shard and
its flag leaves the unit undone and the next run completes it; two processes writing disjoint units
of one store (as ranks of one extraction will) lose neither rows nor flags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from tests.reliability.trials import record

N, SHAPE = 400, (8, 3, 3)
UNIT_BYTES = 2 * 2 * 8 * 3 * 3  # two images a unit: 200 units, each flag written by one of two processes

WRITER = """
import os, signal, sys, time
from pathlib import Path
import numpy as np
import harness.cache
from harness.cache import FeatureStore

harness.cache.UNIT_BYTES = int(sys.argv[3])
store = FeatureStore.open_path(Path(sys.argv[1]))
mode = sys.argv[2]
while not Path(sys.argv[1] + ".go").exists():  # both writers start together
    time.sleep(0.001)
if mode == "kill":
    def killed(self, units, value):
        os.kill(os.getpid(), signal.SIGKILL)  # the shard is on disk, its flag never will be
    FeatureStore._set_flags = killed
units = [2] if mode == "kill" else range(int(mode), store.n_units, 2)
for unit in units:
    rows = store.unit_rows(unit)
    store.write_unit(unit, np.full((len(rows), 8, 3, 3), unit + 1, np.float16))
"""


def values() -> np.ndarray:
    return np.repeat(np.arange(1, N // 2 + 1, dtype=np.float16), 2)[:, None, None, None] * np.ones(SHAPE, np.float16)


def empty_store(root: Path, monkeypatch) -> FeatureStore:
    monkeypatch.setattr("harness.cache.UNIT_BYTES", UNIT_BYTES)
    key = CacheKey.build("e" * 64, "m" * 64, N, "{}", "layer3")
    with FeatureStore.open_for_write(root, key, SHAPE, "toy/train") as store:
        return store


def writer(store: FeatureStore, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), mode, str(UNIT_BYTES)], env=env)


def test_two_writers_on_disjoint_units_lose_nothing(tmp_path: Path, monkeypatch) -> None:
    store = empty_store(tmp_path, monkeypatch)
    children = [writer(store, "0"), writer(store, "1")]
    time.sleep(3)
    Path(f"{store.path}.go").touch()
    codes = [child.wait(timeout=300) for child in children]
    reopened = FeatureStore.open_path(store.path)
    pending = reopened.pending_units()
    same = not pending and np.array_equal(reopened.read_all(), values())
    files = sum(1 for p in store.path.rglob("*") if p.is_file())
    record(
        "two processes writing alternate units of one sharded store",
        1,
        int(codes == [0, 0] and pending == [] and same),
        "every shard and every flag kept (flags change under their own lock)",
    )
    assert (codes, pending, same, files) == ([0, 0], [], True, store.n_units + 4)


def test_kill_between_shard_and_flag_leaves_the_unit_undone(tmp_path: Path, monkeypatch) -> None:
    store = empty_store(tmp_path, monkeypatch)
    child = writer(store, "kill")
    Path(f"{store.path}.go").touch()
    code = child.wait(timeout=300)
    with FeatureStore.open_for_write(tmp_path, store.key, SHAPE, "toy/train") as resumed:
        undone = 2 in resumed.pending_units() and resumed.shard_file(2).is_file()
        for unit in resumed.pending_units():
            rows = resumed.unit_rows(unit)
            resumed.write_unit(unit, values()[rows.start : rows.stop])
        resumed.mark_complete()
    complete = np.array_equal(FeatureStore.open_complete(tmp_path, store.key).read_all(), values())
    record(
        "kill between a unit's shard and its flag",
        1,
        int(code == -signal.SIGKILL and undone and complete),
        "the unit stays pending; the next run writes it again and completes the store",
    )
    assert (code, undone, complete) == (-signal.SIGKILL, True, True)
