"""kill -9 at seeded random points of `ccbench score` (store creation, unit writes, completion,
labels, heads, results) and of `ccbench leaderboard`: the rerun always ends where a clean run ends,
bit for bit, and a killed leaderboard build leaves the old outputs or the new, never a mix."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from harness.cache import FeatureStore, list_stores
from harness.checked import checked_files, problem
from tests.reliability.child import Fault
from tests.reliability.trials import Ccbench, Reference, record, same_score, score_command

SEED = 2026
PHASES = {
    "store creation": r"\S+ cache/features/\w\w/\.\w+\.zarr\.\*\.tmp.*|rename cache/features/.*",
    "unit writes": r"\S+ cache/features/.*\.zarr/(features|done)/c/.*",
    "store completion": r"replace cache/features/\w\w/\w+\.zarr/zarr\.json",
    "labels": r"\S+ cache/labels/.*",
    "heads": r"\S+ results/heads/.*",
    "result": r"\S+ results/[^/]+",
}
TRIALS = 14


def kill_points(events: list[str], rng: np.random.Generator, trials: int, phases: dict[str, str]) -> list[int]:
    """One event of each phase, then others drawn from the whole run, `trials` in all."""
    chosen: list[int] = []
    for pattern in phases.values():
        matching = [i for i, name in enumerate(events) if re.fullmatch(pattern, name) and i not in chosen]
        chosen.append(int(rng.choice(matching)))
    rest = [i for i in range(len(events)) if i not in chosen]
    chosen += [int(i) for i in rng.choice(rest, size=trials - len(chosen), replace=False)]
    return chosen


def fault_at(events: list[str], index: int) -> Fault:
    """Kill before the event at `index`, named by its name and its occurrence among equal names."""
    name = events[index]
    return Fault("kill", pattern=re.escape(name), n=events[: index + 1].count(name))


def leftovers(base: Path) -> list[str]:
    return [str(p.relative_to(base)) for p in base.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def matches_reference(base: Path, reference: Reference) -> list[str]:
    """What differs from the clean run: result, stores (every value), label files, leftovers."""
    wrong = []
    results = list((base / "results").glob("*.json"))
    if len(results) != 1 or not same_score(json.loads(results[0].read_text()), reference.result):
        wrong.append("result")
    for path in list_stores(reference.base / "cache"):
        twin = base / path.relative_to(reference.base)
        store = FeatureStore.open_path(twin) if twin.exists() else None
        if (
            store is None
            or store.verify()
            or not np.array_equal(store.read_all(), FeatureStore.open_path(path).read_all())
        ):
            wrong.append(f"store {path.name[:8]}")
    for path in checked_files(reference.base / "cache"):
        twin = base / path.relative_to(reference.base)
        if problem(twin) is not None or twin.read_bytes() != path.read_bytes():
            wrong.append(f"labels {path.name[:8]}")
    return wrong + leftovers(base)


def test_score_killed_anywhere_resumes_to_the_clean_result(
    ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    rng = np.random.default_rng(SEED)
    outcomes = []
    for trial, index in enumerate(kill_points(reference.events, rng, TRIALS, PHASES)):
        base = tmp_path / f"trial{trial}"
        killed = ccbench(base, score_command(base, data), fault=fault_at(reference.events, index))
        resumed = ccbench(base, score_command(base, data))
        wrong = matches_reference(base, reference) if resumed.code == 0 else [f"exit {resumed.code}: {resumed.err}"]
        outcomes.append((reference.events[index], killed.status, wrong))
    survived = sum(status == -9 and not wrong for _, status, wrong in outcomes)
    record(
        "kill -9 during `score` (store creation, unit writes, completion, labels, heads, result; seeded)",
        len(outcomes),
        survived,
        "the rerun resumes and writes the clean run's result, stores and labels bit for bit; nothing left behind",
    )
    assert [outcome for outcome in outcomes if outcome[1:] != (-9, [])] == []


def leaderboard(results: Path, out: Path) -> list[str]:
    return ["leaderboard", "--results", results, "--out", out, "--include-overrides"]


def planted_results(reference: Reference, folder: Path, names: list[str]) -> Path:
    """The reference result under several encoder names (fingerprints differ), as a results folder."""
    folder.mkdir(parents=True)
    for k, name in enumerate(names):
        result = json.loads(reference.result_file().read_text())
        result["encoder"] = {**result["encoder"], "name": name, "fingerprint": f"{k + 1:x}" * 64}
        result["score"] = 0.1 * (k + 1)
        (folder / f"{k + 1:x}{reference.result_file().name[1:]}").write_text(json.dumps(result))
    return folder


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def test_leaderboard_killed_anywhere_leaves_old_or_new_outputs(
    ccbench: Ccbench, reference: Reference, tmp_path: Path
) -> None:
    old_results = planted_results(reference, tmp_path / "old-results", ["a", "b"])
    new_results = planted_results(reference, tmp_path / "new-results", ["a", "b", "c"])
    old_out, clean, log = tmp_path / "old", tmp_path / "clean", tmp_path / "events"
    assert ccbench(tmp_path, leaderboard(old_results, old_out)).code == 0
    shutil.copytree(old_out, clean / "board")
    assert ccbench(clean, leaderboard(new_results, clean / "board"), fault=Fault("log", log=str(log))).code == 0
    old, new = outputs(old_out), outputs(clean / "board")
    assert old != new
    events = log.read_text().splitlines()
    rng = np.random.default_rng(SEED)
    outcomes = []
    for trial, index in enumerate(kill_points(events, rng, 10, {"outputs": r"\S+ \.board\.\*\.tmp/.*"})):
        base = tmp_path / f"trial{trial}"
        shutil.copytree(old_out, base / "board")
        killed = ccbench(base, leaderboard(new_results, base / "board"), fault=fault_at(events, index))
        after_kill = outputs(base / "board")
        rebuilt = ccbench(base, leaderboard(new_results, base / "board"))
        outcomes.append(
            (
                killed.status,
                after_kill in (old, new),
                outputs(base / "board") == new and rebuilt.code == 0,
                leftovers(base),
            )
        )
    survived = sum(outcome == (-9, True, True, []) for outcome in outcomes)
    record(
        "kill -9 during `leaderboard` (seeded)",
        len(outcomes),
        survived,
        "the folder holds the previous build or the new one, never a mix; the next build replaces it",
    )
    assert outcomes == [(-9, True, True, [])] * len(outcomes)
