"""Damaged cache files, real bytes on disk: flipped, truncated and deleted chunks are named by rows and
extracted again (only their units), never read as zeros or as wrong numbers; changed or truncated
label and target files are refused with one line; `cache verify` names every bad chunk of every
store, carries on past an unreadable one, and `--repair` leaves what the next run rebuilds."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.arrays import cached_array
from harness.cache import FeatureStore, list_stores
from harness.checked import checksum_path
from harness.errors import CacheError
from tests.reliability.trials import Ccbench, Outcome, Reference, copy_run, record, same_score, score_command, shown


def stores(base: Path) -> dict[str, Path]:
    """The run's two stores: 'train' (300 rows, chunks of 256) and 'test' (60 rows, one chunk)."""
    return {
        "train" if FeatureStore.open_path(p).key.n_images == 300 else "test": p for p in list_stores(base / "cache")
    }


def chunk(store: Path, index: int) -> Path:
    return store / "features" / "c" / str(index) / "0"


def flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


DAMAGE: dict[str, tuple[Callable[[Path], None], str, int, str]] = {
    "flipped": (flip, "train", 1, "rows 256-299: fails to decode"),
    "truncated": (truncate, "test", 0, "rows 0-59: fails to decode"),
    "deleted": (Path.unlink, "train", 0, "rows 0-255: shard file missing"),
}


def verify(ccbench: Ccbench, base: Path, *flags: str) -> Outcome:
    return ccbench(base, ["cache", "verify", "--cache", base / "cache", *flags])


def stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_chunk_is_named_then_only_its_unit_is_extracted_again(
    kind: str, ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    damage, split, index, named = DAMAGE[kind]
    base = copy_run(reference, tmp_path / "run")
    store = stores(base)[split]
    untouched = {
        p: stamp(p)
        for name, s in stores(base).items()
        for p in (s / "features" / "c").rglob("*")
        if p.is_file() and p != chunk(store, index)
    }
    damage(chunk(store, index))
    found = verify(ccbench, base)
    scored = ccbench(base, score_command(base, data, "--force"))
    result = json.loads(next((base / "results").glob("*.json")).read_text())
    again = verify(ccbench, base)
    checks = [
        found.code == 1,
        f"{store.name[:16]}  {named}" in found.out,
        scored.code == 0,
        same_score(result, reference.result),
        f"{store}: {named}" in scored.err,
        "extracting those rows again" in scored.err,
        again.code == 0,
        {p: stamp(p) for p in untouched} == untouched,
    ]
    record(
        f"{kind} feature shard ({split} split)",
        1,
        int(all(checks)),
        f"`cache verify`: {shown(next((line for line in found.out.splitlines() if named in line), found.out), base)}; `score` "
        "warns, extracts that unit again, writes the clean result",
    )
    assert checks == [True] * len(checks)


def test_verify_names_every_bad_chunk_of_every_store_and_repair_resets_them(
    ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    base = copy_run(reference, tmp_path / "run")
    found = stores(base)
    for damage, split, index, _ in DAMAGE.values():
        damage(chunk(found[split], index))
    unreadable = found["test"].parent / f"{'f' * 64}.zarr"
    unreadable.mkdir()
    (unreadable / "zarr.json").write_text("{not json")
    listed = verify(ccbench, base)
    repaired = verify(ccbench, base, "--repair")
    scored = ccbench(base, score_command(base, data, "--force"))
    result = json.loads(next((base / "results").glob("*.json")).read_text())
    again = verify(ccbench, base)
    lines = listed.out.splitlines()
    checks = [
        listed.code == 1,
        all(f"{found[split].name[:16]}  {named}" in listed.out for _, split, _, named in DAMAGE.values()),
        any(line.startswith(f"{'f' * 16}  unreadable:") for line in lines),
        repaired.code == 1,
        not unreadable.exists(),
        scored.code == 0,
        same_score(result, reference.result),
        again.code == 0,
    ]
    record(
        "three damaged chunks in two stores, plus an unreadable store",
        1,
        int(all(checks)),
        "`cache verify` prints one line per damaged range and goes on; `--repair` resets them, `score` then "
        "rebuilds exactly them",
    )
    assert checks == [True] * len(checks)


@pytest.mark.parametrize("kind", ["changed byte", "truncated"])
def test_changed_or_truncated_label_file_is_refused_with_one_line(
    kind: str, ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    base = copy_run(reference, tmp_path / "run")
    label = max((base / "cache" / "labels").rglob("*.npy"), key=lambda p: p.stat().st_size)  # the train labels
    raw = bytearray(label.read_bytes())
    if kind == "truncated":
        label.write_bytes(bytes(raw[: len(raw) - 100]))
    else:
        raw[-8] ^= 0x01  # the last sample's label, low byte: another valid class id
        label.write_bytes(bytes(raw))
    result_file = next((base / "results").glob("*.json"))
    before = result_file.read_bytes()
    refused = ccbench(base, score_command(base, data, "--force"))
    checks = [
        refused.code == 2,
        len(refused.error_lines()) == 1,
        str(label) in refused.err,
        "checksum mismatch" in refused.err,
        result_file.read_bytes() == before,
    ]
    listed = verify(ccbench, base)
    repaired = verify(ccbench, base, "--repair")
    checks += [listed.code == 1, f"{label}  changed or cut short" in listed.out, repaired.code == 1, not label.exists()]
    rescored = ccbench(base, score_command(base, data, "--force"))
    checks += [rescored.code == 0, same_score(json.loads(result_file.read_text()), reference.result)]
    record(f"label file: {kind}", 1, int(all(checks)), shown(refused.error_lines()[0], base))
    assert checks == [True] * len(checks)


def test_changed_or_truncated_target_file_is_refused(tmp_path: Path) -> None:
    """Dense targets and decoded inputs go through the same checked files (harness.arrays)."""
    path = tmp_path / "targets" / "ab" / "t.npy"
    rows = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    build = lambda: cached_array(path, np.float32, (4, 2, 3), lambda i: rows[i])  # noqa: E731
    np.testing.assert_array_equal(build(), rows)
    outcomes = []
    for damage in (flip, truncate):
        original = path.read_bytes()
        damage(path)
        with pytest.raises(CacheError) as refused:
            build()
        outcomes.append(
            str(path) in str(refused.value)
            and "checksum mismatch" in str(refused.value)
            and "\n" not in str(refused.value)
        )
        path.write_bytes(original)
    checksum_path(path).unlink()  # written by an older ccbench, or killed before its checksum: rebuilt
    os.utime(path, (0, 0))
    np.testing.assert_array_equal(build(), rows)
    outcomes.append(checksum_path(path).exists() and path.stat().st_mtime > 0)
    record(
        "dense target file: changed byte, truncated, checksum missing",
        3,
        sum(outcomes),
        "changed or truncated: refused with one line; no checksum: rebuilt from the dataset",
    )
    assert outcomes == [True] * 3
