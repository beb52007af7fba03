"""The result schema: the contract of the files the leaderboard reads, one JSON Schema file shipped with
the package (leaderboard/result.schema.json), which the writer (harness.results) validates against before
writing a file, the leaderboard when reading one, and `ccbench validate` for files from elsewhere. This
module reads it and checks the subset of JSON Schema the file uses (type, required, properties, items,
additionalProperties, const, pattern, minLength, minItems, maxItems) with one line per fault, naming the
key; it imports only the standard library, so the harness shares it without the leaderboard importing
the harness (or torch), and checking needs no dependency.

One JSON file per (encoder fingerprint, task, protocol version). Every file carries its encoder's
metadata and the battery it was scored in, so the leaderboard needs nothing but result files.
Keys (schema_version 1; * marks a required key; the schema file types every key below where present):

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
                    mode (cache or loop), view (resize or crop), views (per training image), bf16;
                    compute (how cached features were extracted: fp32 or bf16-cl) and decode (pil, jpeg
                    or device), absent in files written before them;
                    since crop tasks' version 2 also sampling (how an epoch picks an image's view)
                    and augmentation (the views' draw: crop size, count, seed, scale, flip; or
                    jitter count, strength, seed), optional
    overrides       protocol settings changed by the user (e.g. epochs, or a compute other than the
                    device's default), empty for a standard run
    manifests       {role: manifest digest} of each split's image set (ordered ids + source files)
    split_details   {role: what chose the split} where the reader chose it (taskonomy_depth: its buildings
                    and the split file or seed); absent in files written before it
    cache_key*      sha256 over the feature stores used; cache_stores: {"split/block": store digest}
    timings*        {extract, train, evaluate} seconds
    lockstep        {tasks: ids of the tasks whose heads trained in one loop with this one}; timings.train
                    is then this task's wall time in that loop (it overlaps theirs); absent when trained alone
    predictions     {file, sha256, bootstrap: {rounds, level, seed}}: the per-sample predictions file beside
                    the result (leaderboard.predictions) and the bootstrap its intervals were drawn with;
                    absent in files written before it
    environment     {python, torch, cuda, zarr, numpy, platform, device, device_name, git_commit, command,
                    peak_memory: {rss_bytes, cuda_bytes}, io: {stage: {read_bytes, written_bytes}}};
                    absent in files written before it
    created*        ISO 8601 UTC time of writing

Adding a key keeps schema_version 1: readers ignore keys they do not know, and the leaderboard says
what it cannot answer from a file written before a key existed.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

SCHEMA_FILE = "result.schema.json"
DAMAGED = "the file is damaged, rescore the task"
_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
    "null": (type(None),),
}
_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "object": "an object",
    "array": "a list",
    "boolean": "true or false",
    "null": "null",
}


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a result file, as shipped with the package."""
    return json.loads(files("leaderboard").joinpath(SCHEMA_FILE).read_text())


SCHEMA_VERSION: int = schema()["properties"]["schema_version"]["const"]


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
    return _check(result, schema(), "")


def _check(value: Any, rule: dict[str, Any], where: str) -> str | None:
    """The first fault of `value` (at `where`, a dotted key path) against the schema node `rule`."""
    kinds = rule.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            return f"{where} {_shown(value)} is not {' or '.join(_NAMES[k] for k in kinds)}; {DAMAGED}"
    if isinstance(value, str):
        if len(value) < rule.get("minLength", 0):
            return f"{where} is an empty string; {DAMAGED}"
        if "pattern" in rule and not re.search(rule["pattern"], value):
            return f"{where} {_shown(value)} is not {rule.get('description', rule['pattern'])}; rescore the task"
    if isinstance(value, list):
        return _check_list(value, rule, where)
    if isinstance(value, dict):
        return _check_object(value, rule, where)
    return None


def _check_list(value: list, rule: dict[str, Any], where: str) -> str | None:
    low, high = rule.get("minItems", 0), rule.get("maxItems")
    if len(value) < low or (high is not None and len(value) > high):
        size = f"{low} items" if low == high else f"at least {low} item(s)" if high is None else f"{low}-{high} items"
        return f"{where} {_shown(value)} is not a list of {size}; {DAMAGED}"
    for i, item in enumerate(value):
        broken = _check(item, rule.get("items", {}), f"{where}[{i}]")
        if broken:
            return broken
    return None


def _check_object(value: dict, rule: dict[str, Any], where: str) -> str | None:
    prefix = f"{where}." if where else ""
    absent = [f"{prefix}{key}" for key in rule.get("required", ()) if key not in value]
    if absent:
        return f"missing key(s) {', '.join(absent)}; {DAMAGED}"
    known = rule.get("properties", {})
    for key, item in value.items():
        node = known.get(key, rule.get("additionalProperties"))
        broken = _check(item, node, f"{prefix}{key}") if isinstance(node, dict) else None
        if broken:
            return broken
    return None


def _is(value: Any, kind: str) -> bool:
    """JSON Schema's types: true and false are not numbers, 1.0 is an integer only if written 1."""
    return isinstance(value, _TYPES[kind]) and (kind == "boolean" or not isinstance(value, bool))


def _shown(value: Any, width: int = 40) -> str:
    """The value as its file writes it, cut to `width` characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= width else f"{text[: width - 3]}..."
