"""The result schema: the contract of the files the leaderboard reads; the writer (harness.results)
validates against it before writing a file, the leaderboard when reading one. It imports only the standard
library, so the harness can share it without the leaderboard importing the harness (or torch).

One JSON file per (encoder fingerprint, task, protocol version). Every file carries its encoder's
metadata and the battery it was scored in, so the leaderboard needs nothing but result files.
Keys (schema_version 1; * marks a required key, `problem` checks the type of every key named in
REQUIRED, OPTIONAL, ENCODER_REQUIRED and ENCODER_OPTIONAL where present):

    schema_version* int, SCHEMA_VERSION; unknown versions are refused by name
    version*        str, the protocol version (tasks.PROTOCOL_VERSION) the score was made under
    protocol        str, the battery variant (tasks.spec.PROTOCOLS): "ccbench" or "virb" (the original
                    code's choices, docs/PROTOCOL.md section 8); absent (read as "ccbench") in older files
    secondary       {name: {value, direction, definition}}: metrics of the other protocol's definition
                    read from the same predictions (mean over seeds; each seed's in seeds[].secondary)
    ccbench_version str, the package version that wrote the file
    encoder*        {name*, fingerprint* (sha256 hex), format, source, method, pretrain_data, pretrain_domain,
                    pretrain_images, pretrain_epochs, mean, std}; pretrain_domain is pretrain_data's image
                    domain by the study registry (encoders.study.pretrain_domain), null when unknown, absent
                    in files written before it
    task*, task_version, category*, metric*, higher_is_better
    battery         every task of the battery the file was scored in, in protocol order, scored or not:
                    [{task, category, metric, domains: the kinds of image it holds (tasks.spec.DOMAINS)}];
                    absent in files written before it
    score*          the test score of the selected head (mean over seeds when several); score_std
                    its standard deviation over seeds; ci95: the first seed's bootstrap 95% interval
                    over test samples (images for dense metrics; null when the test split has one sample)
    val_score*      its validation score; epoch*: the epoch chosen on validation
    seed*           the first seed; seeds*: every seed's raw {seed, score, ci95, val_score, epoch, point,
                    val_curve, grid: every grid point's curve}
    splits*         {train, val, test} sample counts (test is scored on every sample)
    classes         the class names the heads output, in order (the train split's, or for a task
                    scored with another task's head, that head's); such a task maps its labels to
                    them by name (ImageNetV2 by wnid to the ImageNet train folders)
    hparams         {optimizer, lr, batch_size, epochs, grid, image_size, val_fraction}; dense tasks add
                    mode (cache or loop), view (resize or crop), views (per training image), bf16
    overrides       protocol settings changed by the user (e.g. epochs), empty for a standard run
    manifests       {role: manifest digest} of each split's image set (ordered ids + source files)
    split_details   {role: what chose the split} where the reader chose it (taskonomy_depth: its buildings
                    and the split file or seed); absent in files written before it
    cache_key*      sha256 over the feature stores used; cache_stores: {"split/block": store digest}
    timings*        {extract, train, evaluate} seconds
    created*        ISO 8601 UTC time of writing

Adding a key keeps schema_version 1: readers ignore keys they do not know, and the leaderboard says
what it cannot answer from a file written before a key existed.
"""

from __future__ import annotations

import json
import re
from typing import Any

SCHEMA_VERSION = 1

NUMBER = (int, float)
NULL = type(None)
REQUIRED: dict[str, tuple[type, ...]] = {
    "schema_version": (int,),
    "version": (str,),
    "encoder": (dict,),
    "task": (str,),
    "category": (str,),
    "metric": (str,),
    "score": NUMBER,
    "val_score": NUMBER,
    "epoch": (int,),
    "splits": (dict,),
    "seed": (int,),
    "seeds": (list,),
    "cache_key": (str,),
    "timings": (dict,),
    "created": (str,),
}
OPTIONAL: dict[str, tuple[type, ...]] = {
    "ccbench_version": (str,),
    "higher_is_better": (bool,),
    "ci95": (list, NULL),
    "overrides": (dict, NULL),
    "battery": (list,),
    "protocol": (str,),
    "secondary": (dict,),
}
ENCODER_REQUIRED: dict[str, tuple[type, ...]] = {"name": (str,), "fingerprint": (str,)}
ENCODER_OPTIONAL: dict[str, tuple[type, ...]] = {
    "method": (str, NULL),
    "pretrain_data": (str, NULL),
    "pretrain_domain": (str, NULL),
    "pretrain_images": (int, NULL),
    "pretrain_epochs": (int, NULL),
}
TASK_KEYS = ("task", "category", "metric")
"""Non-empty strings, in the file and in each battery entry."""
DAMAGED = "the file is damaged, rescore the task"
_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "an object",
    list: "a list",
    bool: "true or false",
    NULL: "null",
}


def problem(result: Any) -> str | None:
    """The first way `result` breaks the schema, as the rest of a one-line error after the file's name
    (the key at fault and the fix); None when it keeps the schema."""
    if not isinstance(result, dict):
        return "not a result object; delete it and rescore the task"
    if "schema_version" in result and result["schema_version"] != SCHEMA_VERSION:
        return (
            f"schema_version {_shown(result['schema_version'])} is not {SCHEMA_VERSION}; read it with the "
            "ccbench version that wrote it, or rescore the task"
        )
    broken = _typed(result, REQUIRED, OPTIONAL, "") or _typed(
        result["encoder"], ENCODER_REQUIRED, ENCODER_OPTIONAL, "encoder."
    )
    if broken:
        return broken
    encoder = result["encoder"]
    for key in TASK_KEYS:
        if not result[key]:
            return f"{key} is an empty string; {DAMAGED}"
    if not re.fullmatch(r"[0-9a-f]{64}", encoder["fingerprint"]):
        return f"encoder.fingerprint {_shown(encoder['fingerprint'])} is not a sha256 hex digest; rescore the task"
    for i, entry in enumerate(result.get("battery", ())):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry[k] for k in TASK_KEYS):
            return f"battery[{i}] {_shown(entry)} lacks a non-empty task, category or metric string; {DAMAGED}"
        domains = entry.get("domains")
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) and d for d in domains):
            return f"battery[{i}].domains {_shown(domains)} is not a non-empty list of strings; {DAMAGED}"
    return None


def _typed(
    record: dict[str, Any], required: dict[str, tuple[type, ...]], optional: dict[str, tuple[type, ...]], prefix: str
) -> str | None:
    """The missing required keys of `record`, else its first key of a wrong type (`prefix` names where it is)."""
    absent = [f"{prefix}{key}" for key in required if key not in record]
    if absent:
        return f"missing key(s) {', '.join(absent)}; {DAMAGED}"
    for key, types in {**required, **optional}.items():
        if key in record and not _is(record[key], types):
            return f"{prefix}{key} {_shown(record[key])} is not {_kind(types)}; {DAMAGED}"
    return None


def _kind(types: tuple[type, ...]) -> str:
    """The types' names for a message; "a number" covers int and float together."""
    return " or ".join(_NAMES[t] for t in types if not (t is int and float in types))


def _is(value: Any, types: tuple[type, ...]) -> bool:
    """isinstance, except that true and false are not numbers."""
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _shown(value: Any, width: int = 40) -> str:
    """The value as its file writes it, cut to `width` characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= width else f"{text[: width - 3]}..."
