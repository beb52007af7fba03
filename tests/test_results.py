"""Result files: atomic writes, schema validation (one schema, leaderboard.schema, refused alike by the writer
and the leaderboard), one file per (fingerprint, task, protocol)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.errors import ResultError
from harness.results import load_result, result_path, write_result
from leaderboard.collect import load_results
from leaderboard.errors import LeaderboardError
from leaderboard.schema import SCHEMA_VERSION, schema


def example(score: float = 0.5) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "version": "1",
        "ccbench_version": "0.1.0",
        "encoder": {"name": "e", "fingerprint": "ab" * 32, "pretrain_data": "ImageNet", "pretrain_domain": "object"},
        "task": "cifar100",
        "category": "semantic-image",
        "metric": "top1",
        "battery": [{"task": "cifar100", "category": "semantic-image", "metric": "top1", "domains": ["object"]}],
        "score": score,
        "val_score": 0.6,
        "epoch": 3,
        "splits": {"train": 9, "val": 1, "test": 5},
        "seed": 0,
        "seeds": [{"seed": 0, "score": score}],
        "cache_key": "cd" * 32,
        "timings": {"extract": 1.0, "train": 2.0, "evaluate": 0.1},
        "created": "2026-01-01T00:00:00Z",
    }


def full_example() -> dict:
    """example() with every optional key the schema types, nested ones included."""
    result = example()
    interval = [0.4, 0.6]
    result.update(
        task_version=1,
        higher_is_better=True,
        score_std=0.0,
        ci95=interval,
        seeds=[{"seed": 0, "score": 0.5, "ci95": interval, "val_score": 0.6, "epoch": 3, "point": "sgd"}],
        classes=["a", "b"],
        hparams={},
        overrides={},
        manifests={},
        split_details={},
        cache_stores={},
        predictions={
            "file": "ab__cifar100__p1.predictions.npz",
            "sha256": "ef" * 32,
            "bootstrap": {"rounds": 1000, "level": 0.95, "seed": 0},
        },
        environment={
            "python": "3.12.1",
            "torch": "2.4.0",
            "cuda": None,
            "zarr": "3.1.6",
            "numpy": "2.0.0",
            "platform": "Linux",
            "device": "cpu",
            "device_name": "x86_64",
            "git_commit": None,
            "command": "ccbench score",
            "peak_memory": {"rss_bytes": 1, "cuda_bytes": None},
            "io": {"train": {"read_bytes": 1, "written_bytes": 0}},
        },
    )
    result["encoder"].update(method="SwAV", pretrain_images=1, pretrain_epochs=1)
    return result


def test_path_is_keyed_by_fingerprint_task_and_protocol(tmp_path: Path) -> None:
    path = result_path(tmp_path, "ab" * 32, "cifar100", "1")
    assert path.name == "abababababababab__cifar100__p1.json"
    write_result(path, example())
    assert load_result(path)["score"] == 0.5 and list(tmp_path.iterdir()) == [path]


def test_rewrite_is_atomic_and_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = result_path(tmp_path, "ab" * 32, "cifar100", "1")
    write_result(path, example(0.5))

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ResultError, match="cannot write the result"):
        write_result(path, example(0.9))
    monkeypatch.undo()
    assert load_result(path)["score"] == 0.5
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(schema_version=99), "schema_version 99 is not 1"),
        (lambda r: r.pop("score"), "missing key"),
        (lambda r: r["encoder"].update(fingerprint="mine"), "not a sha256"),
    ],
)
def test_invalid_results_are_refused_by_name(tmp_path: Path, edit, message: str) -> None:
    result = example()
    edit(result)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    with pytest.raises(ResultError, match=message):
        load_result(path)
    with pytest.raises(ResultError):
        write_result(tmp_path / "w.json", result)


def test_torn_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"schema_version": 1, "sco')
    with pytest.raises(ResultError, match=f"{path}: not valid JSON"):
        load_result(path)


JSON_TYPES = {
    "integer": int,
    "number": (int, float),
    "string": str,
    "object": dict,
    "array": list,
    "boolean": bool,
    "null": type(None),
}


def _wrong_value(kinds: str | list[str]):
    """A value of none of the JSON types `kinds` (true is no number)."""
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return next(v for v in ("x", 1.5, {"a": 1}) if not any(isinstance(v, JSON_TYPES[k]) for k in kinds))


def _walk(rule: dict, value, where: str, reach) -> list:
    """(id, edit, key) for every key of the schema node `rule` that `value` (reached from a result by
    `reach`) holds: dropped where required, given a wrong type where typed, and the same inside."""
    edits = []
    if isinstance(value, dict):
        prefix = f"{where}." if where else ""
        for key in rule.get("required", ()):
            edits.append((f"missing-{prefix}{key}", lambda r, k=key: reach(r).pop(k), f"{prefix}{key}"))
        for key, inner in value.items():
            node = rule.get("properties", {}).get(key, rule.get("additionalProperties"))
            if not isinstance(node, dict):
                continue
            if "type" in node:
                wrong = _wrong_value(node["type"])
                edits.append(
                    (f"wrong-{prefix}{key}", lambda r, k=key, w=wrong: reach(r).update({k: w}), f"{prefix}{key}")
                )
            edits += _walk(node, inner, f"{prefix}{key}", lambda r, k=key: reach(r)[k])
    elif isinstance(value, list) and value and "items" in rule:
        edits += _walk(rule["items"], value[0], f"{where}[0]", lambda r: reach(r)[0])
    return edits


def _edits() -> list:
    """(id, edit of full_example(), the key its one-line refusal must name): every key the schema file
    names, at every depth, missing (the required ones) or of a wrong type, and the checks beyond types."""
    edits = _walk(schema(), full_example(), "", lambda r: r)
    edits += [
        ("bool-score", lambda r: r.update(score=True), "score"),
        ("empty-task", lambda r: r.update(task=""), "task"),
        ("short-fingerprint", lambda r: r["encoder"].update(fingerprint="ab"), "encoder.fingerprint"),
        ("battery-entry", lambda r: r["battery"][0].pop("metric"), "battery[0]"),
        ("battery-domains", lambda r: r["battery"][0].update(domains=[]), "battery[0].domains"),
        ("ci95-triple", lambda r: r.update(ci95=[0.1, 0.2, 0.3]), "ci95"),
        ("predictions-path", lambda r: r["predictions"].update(file="../x.predictions.npz"), "predictions.file"),
    ]
    return edits


def test_the_walk_covers_every_key_the_schema_names() -> None:
    """No key of the schema file escapes the refusal test below: each typed key has a wrong-type edit."""
    names = {key for _, _, key in _edits()}
    for expected in ("schema_version", "encoder.pretrain_epochs", "seeds[0].ci95", "environment.io.train.read_bytes"):
        assert expected in names
    assert len(names) > 60


@pytest.mark.parametrize("edit, key", [pytest.param(e, k, id=i) for i, e, k in _edits()])
def test_writer_and_leaderboard_refuse_alike(tmp_path: Path, edit, key: str) -> None:
    """One schema: the writer refuses to write the record and the leaderboard to read the file, each with
    one line naming the file and the key at fault."""
    result = full_example()
    edit(result)
    path = tmp_path / "w.json"
    with pytest.raises(ResultError) as written:
        write_result(path, result)
    assert not path.exists()
    folder = tmp_path / "results"
    folder.mkdir()
    read = folder / "r.json"
    read.write_text(json.dumps(result))
    with pytest.raises(LeaderboardError) as loaded:
        load_results(folder)
    for target, error in ((path, written.value), (read, loaded.value)):
        message = str(error)
        assert message.startswith(f"{target}: ") and "\n" not in message
        assert message.split(": ", 1)[1].startswith((f"missing key(s) {key}", f"{key} "))
    assert str(written.value).split(": ", 1)[1] == str(loaded.value).split(": ", 1)[1]


def test_the_example_keeps_the_schema_on_both_sides(tmp_path: Path) -> None:
    path = write_result(tmp_path / "r.json", example(0.25))
    rows = load_results(tmp_path)
    assert load_result(path)["battery"][0]["domains"] == ["object"]
    assert (list(rows["score"]), list(rows["pretrain_domain"]), rows["battery"][0]) == (
        [0.25],
        ["object"],
        (("cifar100", "semantic-image", "top1", ("object",)),),
    )
