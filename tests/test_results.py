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
from leaderboard.schema import ENCODER_OPTIONAL, ENCODER_REQUIRED, OPTIONAL, REQUIRED, SCHEMA_VERSION


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


def _edits() -> list:
    """(id, edit of example(), the key its one-line refusal must name): every schema key missing (the
    required ones) or of a wrong type, and the checks beyond types."""

    def drop(key: str, inner: bool = False):
        return lambda r: (r["encoder"] if inner else r).pop(key)

    def wrong(key: str, types: tuple, inner: bool = False):
        value = next(v for v in ("x", 1.5) if not isinstance(v, types))
        return lambda r: (r["encoder"] if inner else r).update({key: value})

    edits = [(f"missing-{k}", drop(k), k) for k in REQUIRED]
    edits += [(f"missing-encoder.{k}", drop(k, True), f"encoder.{k}") for k in ENCODER_REQUIRED]
    edits += [(f"wrong-{k}", wrong(k, t), k) for k, t in {**REQUIRED, **OPTIONAL}.items()]
    edits += [
        (f"wrong-encoder.{k}", wrong(k, t, True), f"encoder.{k}")
        for k, t in {**ENCODER_REQUIRED, **ENCODER_OPTIONAL}.items()
    ]
    edits += [
        ("bool-score", lambda r: r.update(score=True), "score"),
        ("empty-task", lambda r: r.update(task=""), "task"),
        ("short-fingerprint", lambda r: r["encoder"].update(fingerprint="ab"), "encoder.fingerprint"),
        ("battery-entry", lambda r: r["battery"][0].pop("metric"), "battery[0]"),
        ("battery-domains", lambda r: r["battery"][0].update(domains=[]), "battery[0].domains"),
    ]
    return edits


@pytest.mark.parametrize("edit, key", [pytest.param(e, k, id=i) for i, e, k in _edits()])
def test_writer_and_leaderboard_refuse_alike(tmp_path: Path, edit, key: str) -> None:
    """One schema: the writer refuses to write the record and the leaderboard to read the file, each with
    one line naming the file and the key at fault."""
    result = example()
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
