"""The result schema: one JSON file per (encoder fingerprint, task, protocol version).

Every file carries its encoder's metadata, so the leaderboard needs nothing but result files.
Keys (schema_version 1):

    schema_version  int, this module's SCHEMA_VERSION; unknown versions are refused by name
    version         str, the protocol version (tasks.PROTOCOL_VERSION) the score was made under
    ccbench_version str, the package version that wrote the file
    encoder         {name, fingerprint, format, source, method, pretrain_data, pretrain_images,
                     pretrain_epochs, mean, std}
    task, task_version, category, metric, higher_is_better
    score           the test score of the selected head (mean over seeds when several); score_std
                    its standard deviation over seeds; ci95: the first seed's bootstrap 95% interval
                    over test samples (images for dense metrics; null when the test split has one sample)
    val_score       its validation score; epoch: the epoch chosen on validation
    seed            the first seed; seeds: every seed's raw {seed, score, ci95, val_score, epoch, point,
                    val_curve, grid: every grid point's curve}
    splits          {train, val, test} sample counts (test is scored on every sample)
    hparams         {optimizer, lr, batch_size, epochs, grid, image_size, val_fraction}; dense tasks add
                    mode (cache or loop), view (resize or crop), views (per training image), bf16
    overrides       protocol settings changed by the user (e.g. epochs), empty for a standard run
    manifests       {role: manifest digest} of each split's image set (ordered ids + source files)
    cache_key       sha256 over the feature stores used; cache_stores: {"split/block": store digest}
    timings         {extract, train, evaluate} seconds
    created         ISO 8601 UTC time of writing
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import torch

from harness.errors import ResultError
from safefiles import write_atomic

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "version", "encoder", "task", "category", "metric", "score", "val_score",
                 "epoch", "splits", "seed", "seeds", "cache_key", "timings", "created")


def result_path(results_dir: Path, fingerprint: str, task: str, protocol: str) -> Path:
    """The file of one (encoder, task, protocol): the fingerprint, not the name, identifies the encoder."""
    return Path(results_dir) / f"{fingerprint[:16]}__{task}__p{protocol}.json"


def write_error(path: Path, what: str, error: OSError) -> ResultError:
    return ResultError(f"{path}: cannot write the {what} ({error.strerror or error}); free space or "
                       "set CCBENCH_RESULTS to a writable folder")


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Replace whole (safefiles): never a torn file, and readable by whoever the umask allows."""
    validate(result, path)
    try:
        return write_atomic(path, json.dumps(result, indent=2, sort_keys=True) + "\n")
    except OSError as error:
        raise write_error(path, "result", error) from None


def validate(result: dict[str, Any], path: Path) -> None:
    """Refuse a result of another schema version or one lacking a required key."""
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultError(f"{path}: schema_version {version!r} is not {SCHEMA_VERSION}; rescore with this "
                          "ccbench or read it with the version that wrote it")
    absent = [key for key in REQUIRED_KEYS if key not in result]
    if absent:
        raise ResultError(f"{path}: missing key(s) {', '.join(absent)}; the file is damaged, rescore the task")
    if not re.fullmatch(r"[0-9a-f]{64}", str(result["encoder"].get("fingerprint", ""))):
        raise ResultError(f"{path}: encoder.fingerprint is not a sha256 hex digest; rescore the task")


def load_result(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ResultError(f"{path}: no such result file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"{path}: not valid JSON ({error}); delete it and rescore the task") from None
    if not isinstance(result, dict):
        raise ResultError(f"{path}: not a result object; delete it and rescore the task")
    validate(result, path)
    return result


def head_path(results_dir: Path, fingerprint: str, task: str, protocol: str, seed: int) -> Path:
    """The selected head of one seed, kept beside the results for tasks scored with it (ImageNetV2)."""
    return Path(results_dir) / "heads" / f"{fingerprint[:16]}__{task}__p{protocol}__seed{seed}.pt"


def save_head(path: Path, state: dict[str, Any]) -> None:
    """Replaced whole, like results: a reader never loads half a head. Serialised in memory first,
    as torch reports a full disk while it writes a file as an opaque RuntimeError."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as error:
        raise write_error(path, "head", error) from None


def load_head(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ResultError(f"{path}: the selected head is missing; rescore its task with --force")
    return torch.load(path, map_location="cpu", weights_only=True)
