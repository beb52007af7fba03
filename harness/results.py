"""Result files on disk: one JSON file per (encoder fingerprint, task, protocol version), written
atomically and validated against the result schema, which lives in leaderboard.schema (the contract of the
files the leaderboard reads, shared without the leaderboard importing the harness); the selected heads
beside them."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from harness.errors import ResultError
from leaderboard.schema import SCHEMA_VERSION, problem  # SCHEMA_VERSION: for the record builder (harness.evaluate)


def result_path(results_dir: Path, fingerprint: str, task: str, protocol: str) -> Path:
    """The file of one (encoder, task, protocol): the fingerprint, not the name, identifies the encoder."""
    return Path(results_dir) / f"{fingerprint[:16]}__{task}__p{protocol}.json"


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Write atomically (temporary file in the same folder, fsync, rename): never a torn file."""
    validate(result, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(result, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise ResultError(f"{path}: cannot write the result ({error.strerror or error}); free space or "
                          "set CCBENCH_RESULTS to a writable folder") from None
    return path


def validate(result: dict[str, Any], path: Path) -> None:
    """Refuse a result that breaks the schema (leaderboard.schema), naming the file and the key at fault."""
    broken = problem(result)
    if broken:
        raise ResultError(f"{path}: {broken}")


def load_result(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ResultError(f"{path}: no such result file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"{path}: not valid JSON ({error}); delete it and rescore the task") from None
    validate(result, path)
    return result


def head_path(results_dir: Path, fingerprint: str, task: str, protocol: str, seed: int) -> Path:
    """The selected head of one seed, kept beside the results for tasks scored with it (ImageNetV2)."""
    return Path(results_dir) / "heads" / f"{fingerprint[:16]}__{task}__p{protocol}__seed{seed}.pt"


def save_head(path: Path, state: dict[str, Any]) -> None:
    """Atomic, like results: a reader never loads half a head."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ResultError(f"{path}: cannot write the head ({error.strerror or error}); free space or "
                          "set CCBENCH_RESULTS to a writable folder") from None


def load_head(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ResultError(f"{path}: the selected head is missing; rescore its task with --force")
    return torch.load(path, map_location="cpu", weights_only=True)
