"""Result files: atomic writes, schema validation, one file per (fingerprint, task, protocol)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.errors import ResultError
from harness.results import SCHEMA_VERSION, load_result, result_path, write_result


def example(score: float = 0.5) -> dict:
    return {"schema_version": SCHEMA_VERSION, "version": "1", "encoder": {"name": "e", "fingerprint": "ab" * 32},
            "task": "cifar100", "category": "semantic-image", "metric": "top1", "score": score, "val_score": 0.6,
            "epoch": 3, "splits": {"train": 9, "val": 1, "test": 5}, "seed": 0,
            "seeds": [{"seed": 0, "score": score}], "cache_key": "cd" * 32,
            "timings": {"extract": 1.0, "train": 2.0, "evaluate": 0.1}, "created": "2026-01-01T00:00:00Z"}


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


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(schema_version=99), "schema_version 99 is not 1"),
    (lambda r: r.pop("score"), "missing key"),
    (lambda r: r["encoder"].update(fingerprint="mine"), "not a sha256"),
])
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
