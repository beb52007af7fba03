"""`ccbench run` plans the union of its tasks' images first: an image set two tasks read (Pets and
Pets segmentation) goes through the encoder once, for both tasks' blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness.prepare
from harness.cli import main
from harness.results import load_result
from tests.writers.pets import write_pets

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("tasks, passes", [("pets,pets_seg", 2), ("pets", 2), ("pets_seg", 2)])
def test_shared_images_are_encoded_once_per_run(
    tasks: str, passes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    write_pets(tmp_path / "data")
    calls: list[tuple[str, ...]] = []
    real = harness.prepare.extract

    def counted(trunk, reader, preprocessing, stores, *args, **kwargs):
        calls.append(tuple(sorted(stores)))
        return real(trunk, reader, preprocessing, stores, *args, **kwargs)

    monkeypatch.setattr(harness.prepare, "extract", counted)
    assert (
        main(
            [
                "run",
                "--encoder",
                "random:0",
                "--tasks",
                tasks,
                "--data-root",
                str(tmp_path / "data"),
                "--cache",
                str(tmp_path / "cache"),
                "--results",
                str(tmp_path / "results"),
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--mode",
                "cache",
                "--quiet",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    assert len(calls) == passes, "one pass over train and one over test, whatever the number of tasks"
    wanted = {"pets": {"pool"}, "pets_seg": {"layer4", "layer1"}}
    assert set().union(*calls) == set().union(*(wanted[t] for t in tasks.split(",")))
    summary = capsys.readouterr().out
    for task in tasks.split(","):
        (path,) = (tmp_path / "results").glob(f"*__{task}__*.json")
        result = load_result(path)
        assert result["task"] == task
        assert any(
            task in line and result["metric"] in line and f"{result['score']:.4f}" in line
            for line in summary.splitlines()
        ), "the summary shows every task with its own metric"
