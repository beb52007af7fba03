"""Two processes on one store, and the leftovers of writers that died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harness.cache import FeatureStore, list_stores, store_lock
from leaderboard.files import HOST
from tests.reliability.trials import Ccbench, Reference, record, same_score, score_command

WAITING = "another ccbench process is writing this store; waiting for it to finish"


def extract_command(base: Path, data: Path) -> list[str]:
    return [
        "extract",
        "--task",
        "cifar100",
        "--encoder",
        "random:0",
        "--data-root",
        data,
        "--cache",
        base / "cache",
        "--image-size",
        "32",
        "--batch-size",
        "32",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--quiet",
    ]


def wait_for(condition, what: str) -> None:
    """Poll for an event of another process (a deadline only against a hang, never asserted on)."""
    deadline = time.monotonic() + 300
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_second_writer_waits_then_skips_the_finished_units(
    ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    train = next(p for p in list_stores(reference.base / "cache") if FeatureStore.open_path(p).key.n_images == 300)
    held = store_lock(tmp_path / train.relative_to(reference.base))  # a first writer, from the children's view
    children = [ccbench.start(tmp_path, extract_command(tmp_path, data)) for _ in range(2)]
    wait_for(
        lambda: all(WAITING in Path(f"{report}.err").read_text() for _, report in children),
        "both children waiting for the store",
    )
    held.release()
    outcomes = [ccbench.finish(*child) for child in children]
    extracted = sum(o.out.count("extracted in") for o in outcomes)
    cached = sum(o.out.count("already cached") for o in outcomes)
    stores_equal = all(
        np.array_equal(
            FeatureStore.open_path(tmp_path / p.relative_to(reference.base)).read_all(),
            FeatureStore.open_path(p).read_all(),
        )
        for p in list_stores(reference.base / "cache")
    )
    verified = all(not FeatureStore.open_path(p).verify() for p in list_stores(tmp_path / "cache"))
    survived = [o.code for o in outcomes] == [0, 0] and (extracted, cached) == (2, 2) and stores_equal and verified
    record(
        "two `extract` processes on one store",
        1,
        int(survived),
        f"the second logs `…: {WAITING}`, then reports `already cached` for what the first extracted",
    )
    assert ([o.code for o in outcomes], extracted, cached, stores_equal, verified) == ([0, 0], 2, 2, True, True)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(
    ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    dead = dead_pid()
    folders = [
        tmp_path / "results",
        tmp_path / "results" / "heads",
        tmp_path / "cache" / "labels" / "cifar100",
        *{tmp_path / p.parent.relative_to(reference.base) for p in list_stores(reference.base / "cache")},
    ]
    stale, live = [], []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        stale.append(folder / f".{folder.name}.json.{HOST}.{dead}.0badc0de.tmp")
        stale[-1].write_text("a writer killed mid-write")
        live.append(folder / f".{folder.name}.json.{HOST}.{os.getpid()}.0badc0de.tmp")  # this test: alive
    creation = stale[-1].parent / f".{'a' * 64}.zarr.{HOST}.{dead}.12345678.tmp"
    (creation / "features").mkdir(parents=True)
    stale.append(creation)
    for path in live:
        path.write_text("a writer still at work")
    scored = ccbench(tmp_path, score_command(tmp_path, data))
    result_ok = scored.code == 0 and same_score(
        json.loads(next((tmp_path / "results").glob("*.json")).read_text()), reference.result
    )
    gone = [path for path in stale if not path.exists()]
    kept = [path for path in live if path.exists()]
    record(
        "temporary files of a dead writer in every folder ccbench writes",
        len(stale),
        len(gone),
        "removed by the next writer of the folder; a live writer's are kept",
    )
    assert (result_ok, len(gone), len(kept)) == (True, len(stale), len(live))
