"""Result files -> one tidy DataFrame row per (encoder fingerprint, task, seed).

Validates each file against leaderboard.schema, the contract the writer validates against too, so the
leaderboard stays a reader of files that never imports harness/ (nor torch).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from leaderboard.errors import LeaderboardError
from leaderboard.locations import Location, location
from leaderboard.schema import problem

ENCODER_KEYS = (
    "name",
    "fingerprint",
    "method",
    "pretrain_data",
    "pretrain_domain",
    "pretrain_images",
    "pretrain_epochs",
)
COLUMNS = (
    *ENCODER_KEYS,
    "task",
    "category",
    "metric",
    "higher_is_better",
    "seed",
    "score",
    "ci95_lo",
    "ci95_hi",
    "protocol",
    "protocol_name",
    "overrides",
    "created",
    "file",
    "ccbench_version",
    "battery",
    "predictions",
)
DEFAULT_PROTOCOL = "ccbench"
"""The protocol of files that name none (written before protocols had names)."""
Listing = tuple[tuple[str, str, str, tuple[str, ...]], ...]
"""A file's battery as (task, category, metric, domains) in protocol order; None for files written before it."""


def result_files(results_dir: Location) -> list[Location]:
    """Only top-level *.json: heads/ and temporary files of a writer in progress are not results."""
    return sorted(
        (p for p in location(results_dir).glob("*.json") if p.is_file() and not p.name.startswith(".")), key=str
    )


def load_results(results_dir: str | Location) -> pd.DataFrame:
    """Every result file of `results_dir` as tidy rows; raises LeaderboardError naming a malformed file.

    All rows are returned, with an `overrides` flag; excluding non-standard runs is the table's choice.
    """
    results_dir = location(results_dir)
    if not results_dir.is_dir():
        raise LeaderboardError(f"{results_dir}: no such results folder; score an encoder first or pass --results")
    rows: list[dict[str, Any]] = []
    for path in result_files(results_dir):
        rows.extend(_rows(read_result(path), path))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def read_result(path: Location) -> dict[str, Any]:
    try:
        result = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LeaderboardError(f"{path}: not valid JSON ({error}); delete it and rescore the task") from None
    except OSError as error:
        raise LeaderboardError(f"{path}: cannot read ({error.strerror or error})") from None
    broken = problem(result)
    if broken:
        raise LeaderboardError(f"{path}: {broken}")
    return result


def version_key(version: object) -> tuple:
    """A version string ('1', '0.1.0', '2-rc') as a sortable key: numeric parts by value."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in str(version).replace("-", ".").split("."))


def _number(value: Any, path: Location, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LeaderboardError(f"{path}: {what} {value!r} is not a finite number; rescore the task")
    return float(value)


def _interval(value: Any, path: Location, what: str) -> dict[str, float]:
    """A seed's bootstrap 95% interval as ci95_lo/ci95_hi; NaN when the metric has none (null or absent)."""
    if value is None:
        return {"ci95_lo": float("nan"), "ci95_hi": float("nan")}
    if not isinstance(value, list) or len(value) != 2:
        raise LeaderboardError(f"{path}: {what} {value!r} is not a [low, high] pair; rescore the task")
    low, high = (_number(v, path, what) for v in value)
    if low > high:
        raise LeaderboardError(f"{path}: {what} {value!r} has low above high; rescore the task")
    return {"ci95_lo": low, "ci95_hi": high}


def _rows(result: dict[str, Any], path: Location) -> list[dict[str, Any]]:
    """One row per seed with its interval; a result without per-seed records counts as one seed with its
    top-level score and ci95."""
    encoder = result["encoder"]
    base = {key: encoder.get(key) for key in ENCODER_KEYS}
    battery: Listing | None = None
    if "battery" in result:
        battery = tuple((e["task"], e["category"], e["metric"], tuple(e["domains"])) for e in result["battery"])
    base.update(
        task=result["task"],
        category=result["category"],
        metric=result["metric"],
        higher_is_better=result.get("higher_is_better", True),
        protocol=result["version"],
        protocol_name=result.get("protocol", DEFAULT_PROTOCOL),
        overrides=bool(result.get("overrides")),
        created=result["created"],
        file=path.name,
        ccbench_version=result.get("ccbench_version"),
        battery=battery,
        predictions=str(path) if result.get("predictions") else None,
    )
    seeds = result["seeds"]
    if not seeds:
        return [
            {
                **base,
                "seed": result["seed"],
                "score": _number(result["score"], path, "score"),
                **_interval(result.get("ci95"), path, "ci95"),
            }
        ]
    out = []
    for i, entry in enumerate(seeds):
        if not isinstance(entry, dict) or "score" not in entry:
            raise LeaderboardError(f"{path}: seeds[{i}] has no score; rescore the task")
        out.append(
            {
                **base,
                "seed": entry.get("seed", i),
                "score": _number(entry["score"], path, f"seeds[{i}].score"),
                **_interval(entry.get("ci95"), path, f"seeds[{i}].ci95"),
            }
        )
    return out
