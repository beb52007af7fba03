"""Result files on disk: one JSON file per (encoder fingerprint, task, protocol version), written
atomically and validated against the result schema, which lives in leaderboard.schema (the contract of the
files the leaderboard reads, shared without the leaderboard importing the harness); the selected heads
beside them."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import torch

from harness.errors import ResultError
from harness.metrics import Metric, Top1
from leaderboard.locations import Location, location, write
from leaderboard.predictions import Predictions, write_predictions
from leaderboard.schema import problem


def result_path(results_dir: Location, fingerprint: str, task: str, protocol: str) -> Location:
    """The file of one (encoder, task, protocol): the fingerprint, not the name, identifies the encoder."""
    return location(results_dir) / f"{fingerprint[:16]}__{task}__p{protocol}.json"


def write_error(path: Location, what: str, error: OSError) -> ResultError:
    return ResultError(
        f"{path}: cannot write the {what} ({error.strerror or error}); free space or "
        "set CCBENCH_RESULTS to a writable folder"
    )


def write_result(path: Location, result: dict[str, Any]) -> Location:
    """Replace whole (leaderboard.locations): never a torn file, and readable by whoever the umask allows."""
    validate(result, path)
    try:
        return write(path, json.dumps(result, indent=2, sort_keys=True) + "\n")
    except OSError as error:
        raise write_error(path, "result", error) from None


def save_predictions(path: Location, metrics: list[Metric], seeds: list[int], ids: list[str]) -> dict[str, Any]:
    """Write every seed's per-sample predictions beside the result file `path` (leaderboard.predictions),
    before the result names them; returns the result's `predictions` record. `ids` name the test
    samples in scoring order (their row numbers where the split has none)."""
    count = len(metrics[0].statistics())
    ids = list(ids) if len(ids) == count else [str(row) for row in range(count)]
    if isinstance(metrics[0], Top1):
        classes = [metric.classes() for metric in metrics]
        predictions = Predictions.classified(ids, seeds, np.stack([p for p, _ in classes]), classes[0][1])
    else:
        predictions = Predictions.dense(metrics[0].name, ids, seeds, np.stack([m.statistics() for m in metrics]))
    try:
        return write_predictions(path, predictions)
    except OSError as error:
        raise write_error(path, "predictions", error) from None


def validate(result: dict[str, Any], path: Location) -> None:
    """Refuse a result that breaks the schema (leaderboard.schema), naming the file and the key at fault."""
    broken = problem(result)
    if broken:
        raise ResultError(f"{path}: {broken}")


def load_result(path: Location) -> dict[str, Any]:
    try:
        result = json.loads(location(path).read_text())
    except FileNotFoundError:
        raise ResultError(f"{path}: no such result file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"{path}: not valid JSON ({error}); delete it and rescore the task") from None
    validate(result, path)
    return result


def head_path(results_dir: Location, fingerprint: str, task: str, protocol: str, seed: int) -> Location:
    """The selected head of one seed, kept beside the results for tasks scored with it (ImageNetV2)."""
    return location(results_dir) / "heads" / f"{fingerprint[:16]}__{task}__p{protocol}__seed{seed}.pt"


def save_head(path: Location, state: dict[str, Any]) -> None:
    """Replaced whole, like results: a reader never loads half a head. Serialised in memory first,
    as torch reports a full disk while it writes a file as an opaque RuntimeError."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        write(path, buffer.getvalue())
    except OSError as error:
        raise write_error(path, "head", error) from None


def load_head(path: Location) -> dict[str, Any]:
    if not path.is_file():
        raise ResultError(f"{path}: the selected head is missing; rescore its task with --force")
    return torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
