"""`ccbench cka` outputs (<results>/cka/*.json) -> the matrices of docs/PROTOCOL.md section 6 item 7.

Reads and validates the few keys it shows itself rather than importing harness/, so the leaderboard
stays a reader of files and runs without torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leaderboard.errors import LeaderboardError
from leaderboard.locations import Location, location

CSV_COLUMNS = ("encoder_a", "encoder_b", "block_a", "block_b", "cka", "n", "image_size", "task", "split", "file")


@dataclass(frozen=True)
class CkaRun:
    """One `ccbench cka` file: blocks of encoder A (rows) against the same blocks of B (columns)."""

    file: str
    encoders: tuple[str, str]
    fingerprints: tuple[str, str]
    blocks: tuple[str, ...]
    matrix: np.ndarray  # len(blocks) x len(blocks), NaN where CKA is undefined
    n: int
    image_size: int
    task: str
    split: str

    @property
    def title(self) -> str:
        """Unique per file (the file name holds the same fingerprint prefixes and settings)."""
        (a, b), (fa, fb) = self.encoders, self.fingerprints
        return (
            f"7. linear CKA: {a} ({fa[:12]}, rows) vs {b} ({fb[:12]}, columns), {self.task} {self.split}, "
            f"n={self.n}, {self.image_size} px"
        )

    @property
    def stem(self) -> str:
        """The heatmap's file stem, after the JSON's."""
        return f"cka_{Path(self.file).stem}"

    def frame(self) -> pd.DataFrame:
        """The matrix as a table: A's block, then one column per block of B."""
        header = f"{self.encoders[0]} \\ {self.encoders[1]}"
        return pd.DataFrame(
            {header: list(self.blocks), **{block: self.matrix[:, j] for j, block in enumerate(self.blocks)}}
        )


def cka_files(results_dir: Location) -> list[Location]:
    """Top-level *.json of results/cka; temporary files of a writer in progress start with a dot."""
    return sorted(
        (p for p in (location(results_dir) / "cka").glob("*.json") if p.is_file() and not p.name.startswith(".")),
        key=str,
    )


def load_cka(results_dir: str | Location) -> list[CkaRun]:
    """Every CKA file of `results_dir`; raises LeaderboardError naming a malformed file."""
    return [_run(path) for path in cka_files(location(results_dir))]


def _fail(path: Location, what: str) -> LeaderboardError:
    return LeaderboardError(f"{path}: {what}; the file is damaged, rerun `ccbench cka`")


def _run(path: Location) -> CkaRun:
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _fail(path, f"not valid JSON ({error})") from None
    except OSError as error:
        raise LeaderboardError(f"{path}: cannot read ({error.strerror or error})") from None
    if not isinstance(record, dict):
        raise _fail(path, "not a CKA object")
    absent = [key for key in ("encoders", "blocks", "matrix", "n", "image_size", "task", "split") if key not in record]
    if absent:
        raise _fail(path, f"missing key(s) {', '.join(absent)}")
    encoders = record["encoders"]
    if not (
        isinstance(encoders, list)
        and len(encoders) == 2
        and all(isinstance(e, dict) and _text(e.get("name")) and _text(e.get("fingerprint")) for e in encoders)
    ):
        raise _fail(path, "encoders is not two objects with a name and a fingerprint")
    blocks = record["blocks"]
    if not (isinstance(blocks, list) and blocks and all(_text(b) for b in blocks)):
        raise _fail(path, "blocks is not a list of block names")
    for key in ("n", "image_size"):
        if isinstance(record[key], bool) or not isinstance(record[key], int) or record[key] <= 0:
            raise _fail(path, f"{key} {record[key]!r} is not a positive integer")
    for key in ("task", "split"):
        if not _text(record[key]):
            raise _fail(path, f"{key} is not a non-empty string")
    return CkaRun(
        file=path.name,
        encoders=(encoders[0]["name"], encoders[1]["name"]),
        fingerprints=(encoders[0]["fingerprint"], encoders[1]["fingerprint"]),
        blocks=tuple(blocks),
        matrix=_matrix(record["matrix"], len(blocks), path),
        n=record["n"],
        image_size=record["image_size"],
        task=record["task"],
        split=record["split"],
    )


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _matrix(value: Any, size: int, path: Location) -> np.ndarray:
    """size x size numbers; null (written for an undefined CKA) becomes NaN."""
    rows_ok = isinstance(value, list) and len(value) == size
    if not (rows_ok and all(isinstance(r, list) and len(r) == size for r in value)):
        raise _fail(path, f"matrix is not {size} x {size} (one row and column per block)")
    for row in value:
        for v in row:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise _fail(path, f"matrix value {v!r} is not a finite number or null")
    return np.array([[math.nan if v is None else float(v) for v in row] for row in value])


def cka_long(runs: list[CkaRun]) -> pd.DataFrame:
    """cka.csv: one row per (file, block of A, block of B)."""
    rows = [
        {
            "encoder_a": run.encoders[0],
            "encoder_b": run.encoders[1],
            "block_a": block_a,
            "block_b": block_b,
            "cka": run.matrix[i, j],
            "n": run.n,
            "image_size": run.image_size,
            "task": run.task,
            "split": run.split,
            "file": run.file,
        }
        for run in runs
        for i, block_a in enumerate(run.blocks)
        for j, block_b in enumerate(run.blocks)
    ]
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))
