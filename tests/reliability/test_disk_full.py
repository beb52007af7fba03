"""Full disks: a size-limited tmpfs under the cache, the results folder or the leaderboard's output
(in a private namespace, where the system permits one; else ENOSPC injected at every write there),
and ENOSPC injected at the one write that marks a store complete. Each ends in one line, leaves no
temporary file, and keeps what was there before."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.reliability.child import Fault
from tests.reliability.test_kill import leaderboard, planted_results
from tests.reliability.trials import Ccbench, Outcome, Reference, copy_run, record, same_score, score_command, shown

PAGE = 4096


def pages(size: int) -> int:
    return -(-size // PAGE) * PAGE


def temporaries(outcome: Outcome) -> list[str]:
    return [name for name in outcome.listing if name.endswith((".tmp", ".partial")) or ".tmp/" in name]


def one_line(outcome: Outcome, fragment: str) -> bool:
    lines = outcome.error_lines()
    return outcome.code == 2 and len(lines) == 1 and fragment in lines[0]


def how(outcome: Outcome) -> str:
    return "tmpfs" if outcome.tmpfs else "injected ENOSPC"


def test_cache_on_a_full_disk(ccbench: Ccbench, data: Path, tmp_path: Path) -> None:
    full = tmp_path / "cache"
    outcome = ccbench(tmp_path, score_command(tmp_path, data), fault=Fault(tmpfs=str(full), tmpfs_bytes=128 << 10))
    survived = one_line(
        outcome, "disk full while writing the cache; free space or set CCBENCH_CACHE"
    ) and not temporaries(outcome)
    record(
        f"feature cache on a full disk ({how(outcome)}, 128 kB)",
        1,
        int(survived),
        f"{shown(outcome.error_lines()[0], tmp_path)}; no temporary file left",
    )
    assert survived, (outcome.err, temporaries(outcome))


def test_disk_full_while_marking_a_store_complete(
    ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path
) -> None:
    completion = Fault("enospc", pattern=r"open cache/features/\w\w/\w+\.zarr/zarr\.\*\.partial")
    failed = ccbench(tmp_path, score_command(tmp_path, data), fault=completion)
    rerun = ccbench(tmp_path, score_command(tmp_path, data))
    result = next((tmp_path / "results").glob("*.json"), None)
    survived = (
        one_line(failed, "disk full while writing the cache")
        and rerun.code == 0
        and same_score(json.loads(result.read_text()), reference.result)
    )
    record(
        "disk full at `mark_complete` (injected ENOSPC)",
        1,
        int(survived),
        f"{shown(failed.error_lines()[0], tmp_path)}; the rerun completes the store without recomputing it",
    )
    assert survived, failed.err


def test_results_folder_on_a_full_disk(ccbench: Ccbench, data: Path, reference: Reference, tmp_path: Path) -> None:
    """Room for the head's pages but not for the result's: the score is not published, nothing is left
    half-written."""
    copy_run(reference, tmp_path)
    shutil.rmtree(tmp_path / "results")
    head = next((reference.base / "results" / "heads").iterdir()).stat().st_size
    full = tmp_path / "results"
    outcome = ccbench(
        tmp_path, score_command(tmp_path, data), fault=Fault(tmpfs=str(full), tmpfs_bytes=4 << 20, fill_to=pages(head))
    )
    published = [name for name in outcome.listing if name.endswith(".json")]
    survived = (
        one_line(outcome, "cannot write the")
        and "free space or set CCBENCH_RESULTS" in outcome.err
        and not temporaries(outcome)
        and not published
    )
    record(
        f"results folder on a full disk ({how(outcome)})",
        1,
        int(survived),
        f"{shown(outcome.error_lines()[0], tmp_path)}; no result, no temporary file",
    )
    assert survived, (outcome.err, outcome.listing)


def test_leaderboard_output_on_a_full_disk(ccbench: Ccbench, reference: Reference, tmp_path: Path) -> None:
    old_results = planted_results(reference, tmp_path / "old-results", ["a", "b"])
    new_results = planted_results(reference, tmp_path / "new-results", ["a", "b", "c"])
    seed = tmp_path / "seed"
    assert ccbench(tmp_path, leaderboard(old_results, seed / "board")).code == 0
    old = {f"board/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in (seed / "board").iterdir()}
    needed = sum(pages(p.stat().st_size) for p in (seed / "board").iterdir())
    full = tmp_path / "out"
    outcome = ccbench(
        tmp_path,
        leaderboard(new_results, full / "board"),
        seed=seed,
        fault=Fault(tmpfs=str(full), tmpfs_bytes=8 << 20, fill_to=needed // 2),
    )
    kept = {name: digest for name, digest in outcome.listing.items() if name.startswith("board/")}
    survived = one_line(outcome, "cannot write the leaderboard") and kept == old and not temporaries(outcome)
    record(
        f"`leaderboard --out` on a full disk ({how(outcome)})",
        1,
        int(survived),
        f"{shown(outcome.error_lines()[0], tmp_path)}; the previous outputs stay, byte for byte",
    )
    assert survived, (outcome.err, sorted(outcome.listing))
