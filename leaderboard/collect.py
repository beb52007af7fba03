"""Result files -> one tidy DataFrame row per (encoder fingerprint, task, seed).

Validates each file itself (schema_version 1 and the required keys) rather than importing harness/,
so the leaderboard stays a reader of files and runs without torch.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from leaderboard.errors import LeaderboardError

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "version", "encoder", "task", "category", "metric", "score", "val_score",
                 "epoch", "splits", "seed", "seeds", "cache_key", "timings", "created")
ENCODER_KEYS = ("name", "fingerprint", "method", "pretrain_data", "pretrain_images", "pretrain_epochs")
COLUMNS = (*ENCODER_KEYS, "task", "category", "metric", "higher_is_better", "seed", "score", "ci95_lo",
           "ci95_hi", "protocol", "overrides", "created", "file")


def result_files(results_dir: Path) -> list[Path]:
    """Only top-level *.json: heads/ and temporary files of a writer in progress are not results."""
    return sorted(p for p in Path(results_dir).glob("*.json") if p.is_file() and not p.name.startswith("."))


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """Every result file of `results_dir` as tidy rows; raises LeaderboardError naming a malformed file.

    All rows are returned, with an `overrides` flag; excluding non-standard runs is the table's choice.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise LeaderboardError(f"{results_dir}: no such results folder; score an encoder first or pass --results")
    rows: list[dict[str, Any]] = []
    for path in result_files(results_dir):
        rows.extend(_rows(_read(path), path))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _read(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LeaderboardError(f"{path}: not valid JSON ({error}); delete it and rescore the task") from None
    except OSError as error:
        raise LeaderboardError(f"{path}: cannot read ({error.strerror or error})") from None
    if not isinstance(result, dict):
        raise LeaderboardError(f"{path}: not a result object; delete it and rescore the task")
    if result.get("schema_version") != SCHEMA_VERSION:
        raise LeaderboardError(f"{path}: schema_version {result.get('schema_version')!r} is not "
                               f"{SCHEMA_VERSION}; use the ccbench version that wrote it")
    absent = [key for key in REQUIRED_KEYS if key not in result]
    if absent:
        raise LeaderboardError(f"{path}: missing key(s) {', '.join(absent)}; the file is damaged, rescore the task")
    encoder = result["encoder"]
    if not isinstance(encoder, dict) or not isinstance(encoder.get("fingerprint"), str) or not encoder["fingerprint"]:
        raise LeaderboardError(f"{path}: encoder.fingerprint is missing; the file is damaged, rescore the task")
    for key in ("task", "category", "metric"):
        if not isinstance(result[key], str) or not result[key]:
            raise LeaderboardError(f"{path}: {key} is not a non-empty string; rescore the task")
    return result


def _number(value: Any, path: Path, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LeaderboardError(f"{path}: {what} {value!r} is not a finite number; rescore the task")
    return float(value)


def _interval(value: Any, path: Path, what: str) -> dict[str, float]:
    """A seed's bootstrap 95% interval as ci95_lo/ci95_hi; NaN when the metric has none (null or absent)."""
    if value is None:
        return {"ci95_lo": float("nan"), "ci95_hi": float("nan")}
    if not isinstance(value, list) or len(value) != 2:
        raise LeaderboardError(f"{path}: {what} {value!r} is not a [low, high] pair; rescore the task")
    low, high = (_number(v, path, what) for v in value)
    if low > high:
        raise LeaderboardError(f"{path}: {what} {value!r} has low above high; rescore the task")
    return {"ci95_lo": low, "ci95_hi": high}


def _rows(result: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """One row per seed with its interval; a result without per-seed records counts as one seed with its
    top-level score and ci95."""
    encoder = result["encoder"]
    base = {key: encoder.get(key) for key in ENCODER_KEYS}
    overrides = result.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise LeaderboardError(f"{path}: overrides is not an object; rescore the task")
    base.update(task=result["task"], category=result["category"], metric=result["metric"],
                higher_is_better=bool(result.get("higher_is_better", True)), protocol=str(result["version"]),
                overrides=bool(overrides), created=str(result["created"]), file=path.name)
    seeds = result["seeds"]
    if not isinstance(seeds, list):
        raise LeaderboardError(f"{path}: seeds is not a list; rescore the task")
    if not seeds:
        return [{**base, "seed": result["seed"], "score": _number(result["score"], path, "score"),
                 **_interval(result.get("ci95"), path, "ci95")}]
    out = []
    for i, entry in enumerate(seeds):
        if not isinstance(entry, dict) or "score" not in entry:
            raise LeaderboardError(f"{path}: seeds[{i}] has no score; rescore the task")
        out.append({**base, "seed": entry.get("seed", i), "score": _number(entry["score"], path, f"seeds[{i}].score"),
                    **_interval(entry.get("ci95"), path, f"seeds[{i}].ci95")})
    return out
