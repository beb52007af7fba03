"""The leaderboard from synthetic result files: values, marks, ranks, the HTML page, safe concurrent
regeneration, malformed files and speed. No torch, no scoring: result files are written directly."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leaderboard.collect import load_results
from leaderboard.errors import LeaderboardError
from leaderboard.render import build
from leaderboard.taxonomy import TASKS

TASK_SET = ["imagenet", "pets", "cifar100", "clevr_count", "thor_egomotion", "pets_seg", "cityscapes_seg",
            "nyu_depth", "kitti_flow"]


def fp(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def write_result(folder: Path, name: str, task: str, seed_scores: list[float], method: str | None = None,
                 overrides: dict[str, Any] | None = None, **extra: Any) -> Path:
    category, metric = TASKS[task]
    result = {
        "schema_version": 1, "version": "1", "ccbench_version": "0.1.0",
        "encoder": {"name": name, "fingerprint": fp(name), "format": "torchvision", "source": f"{name}.pth",
                    "method": method, "pretrain_data": "ImageNet", "pretrain_images": 1281167,
                    "pretrain_epochs": 200, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "task": task, "task_version": 1, "category": category, "metric": metric, "higher_is_better": True,
        "score": sum(seed_scores) / len(seed_scores), "val_score": 0.5, "epoch": 3, "seed": 0,
        "seeds": [{"seed": s, "score": v, "val_score": 0.5, "epoch": 3, "val_curve": [0.5]}
                  for s, v in enumerate(seed_scores)],
        "splits": {"train": 10, "val": 2, "test": 5}, "hparams": {}, "overrides": overrides or {},
        "manifests": {}, "cache_key": "0" * 64, "timings": {"extract": 1.0, "train": 1.0, "evaluate": 1.0},
        "created": "2026-01-01T00:00:00Z",
    }
    result.update(extra)
    suffix = "-custom" if overrides else ""
    path = folder / f"{fp(name)[:16]}__{task}__p1{suffix}.json"
    path.write_text(json.dumps(result))
    return path


def planted(folder: Path, n_encoders: int = 12, missing: tuple[str, str] | None = ("enc05", "pets_seg")) -> None:
    """Encoder i has quality i; every task is linear in it, so the rank is the quality order."""
    write_result(folder, "supervised", "imagenet", [0.70, 0.72], method="supervised")
    for task_index, task in enumerate(TASK_SET):
        if task != "imagenet":
            write_result(folder, "supervised", task, [0.50 + task_index / 100] * 2, method="supervised")
        for i in range(n_encoders):
            name = f"enc{i:02d}"
            if (name, task) == missing:
                continue
            base = 0.2 + 0.04 * i + task_index / 100
            write_result(folder, name, task, [base - 0.01, base + 0.01], method="mocov2" if i % 2 else "swav")


def test_task_means_missing_task_marks_and_rank(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    planted(results)
    write_result(results, "tweaked", "pets", [0.99], overrides={"epochs": 3})  # excluded by default
    paths = build(results, tmp_path / "out")
    table = pd.read_csv(paths["csv"])
    assert "tweaked" not in set(table["name"])
    row = table.set_index("name")
    assert row.at["supervised", "imagenet"] == pytest.approx(0.71)
    assert row.at["enc03", "cifar100"] == pytest.approx(0.2 + 0.12 + 0.02)
    assert pd.isna(row.at["enc05", "pets_seg"])
    assert not row.at["enc05", "semantic-pixel_complete"] and not row.at["enc05", "overall_complete"]
    assert row.at["enc04", "semantic-pixel_complete"] and row.at["enc04", "overall_complete"]
    encoders = [n for n in table["name"] if n.startswith("enc")]
    assert encoders == [f"enc{i:02d}" for i in range(11, -1, -1)]
    assert list(table["rank"]) == sorted(table["rank"])
    markdown = paths["markdown"].read_text()
    enc05 = next(line for line in markdown.splitlines() if "| enc05 |" in line)
    assert "*" in enc05 and "—" in enc05
    assert "*" not in next(line for line in markdown.splitlines() if "| enc04 |" in line)
    with_overrides = pd.read_csv(build(results, tmp_path / "all", include_overrides=True)["csv"])
    assert "tweaked" in set(with_overrides["name"])


def test_normalized_category_means_by_hand(tmp_path: Path) -> None:
    """3 encoders, 2 semantic-image tasks: (score - supervised) / sd over encoders, then the mean."""
    scores = {"sup": (0.5, 0.2), "a": (0.7, 0.1), "b": (0.3, 0.6)}
    for name, (pets, dtd) in scores.items():
        write_result(tmp_path, name, "pets", [pets], method="supervised" if name == "sup" else "swav")
        write_result(tmp_path, name, "dtd", [dtd], method="supervised" if name == "sup" else "swav")
    table = pd.read_csv(build(tmp_path, tmp_path / "out")["csv"]).set_index("name")
    sd_pets = pd.Series([0.5, 0.7, 0.3]).std()
    sd_dtd = pd.Series([0.2, 0.1, 0.6]).std()
    expected_a = ((0.7 - 0.5) / sd_pets + (0.1 - 0.2) / sd_dtd) / 2
    expected_b = ((0.3 - 0.5) / sd_pets + (0.6 - 0.2) / sd_dtd) / 2
    assert table.at["a", "semantic-image"] == pytest.approx(expected_a)
    assert table.at["b", "semantic-image"] == pytest.approx(expected_b)
    assert table.at["sup", "semantic-image"] == pytest.approx(0.0)
    assert table.at["b", "overall"] == pytest.approx(expected_b)
    assert expected_a > expected_b > 0 and list(table.index) == ["a", "b", "sup"]


def test_without_supervised_zscores_and_says_so(tmp_path: Path) -> None:
    for name, score in {"a": 0.2, "b": 0.4, "c": 0.9}.items():
        write_result(tmp_path, name, "pets", [score], method="swav")
    paths = build(tmp_path, tmp_path / "out")
    table = pd.read_csv(paths["csv"]).set_index("name")
    column = pd.Series([0.2, 0.4, 0.9])
    assert table.at["c", "semantic-image"] == pytest.approx((0.9 - column.mean()) / column.std())
    text = paths["markdown"].read_text()
    assert "z-scored" in text and "not available: no supervised encoder" in text
    assert "not available: imagenet is not scored" in text
    assert "imagenet_scatter" not in paths


def test_index_html_self_contained(tmp_path: Path) -> None:
    planted(tmp_path)
    paths = build(tmp_path, tmp_path / "out")
    page = paths["html"].read_text()
    for name in ["supervised", *[f"enc{i:02d}" for i in range(12)]]:
        assert f">{name}</td>" in page
    assert page.count('<img alt="') == 2 and 'src="data:image/png;base64,iVBORw0KGgo' in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert paths["category_distribution"].read_bytes()[:4] == b"\x89PNG"
    assert paths["imagenet_scatter"].read_bytes()[:4] == b"\x89PNG"


def test_concurrent_builds_leave_valid_files(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    planted(tmp_path / "results")
    out = tmp_path / "out"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            build(tmp_path / "results", out)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(pd.read_csv(out / "leaderboard.csv")) == 13
    assert (out / "index.html").read_text().rstrip().endswith("</html>")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not valid JSON"),
    (json.dumps({"schema_version": 2}), "schema_version 2"),
    (json.dumps({"schema_version": 1, "version": "1"}), "missing key(s)"),
])
def test_malformed_result_names_the_file(tmp_path: Path, content: str, fragment: str) -> None:
    write_result(tmp_path, "a", "pets", [0.5])
    bad = tmp_path / "broken__pets__p1.json"
    bad.write_text(content)
    with pytest.raises(LeaderboardError) as caught:
        load_results(tmp_path)
    message = str(caught.value)
    assert str(bad) in message and fragment in message and "\n" not in message


def test_thousand_results_build_fast(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    tasks = list(TASKS)
    for i in range(50):
        for j, task in enumerate(tasks[:20]):
            write_result(results, f"e{i:03d}", task, [0.1 + 0.01 * i + 0.001 * j] * 3,
                         method="supervised" if i == 0 else "swav")
    assert len(list(results.glob("*.json"))) == 1000
    start = time.perf_counter()
    paths = build(results, tmp_path / "out")
    elapsed = time.perf_counter() - start
    print(f"1000 result files: {elapsed:.2f} s")
    assert len(pd.read_csv(paths["csv"])) == 50
    assert elapsed < 30  # generous: a few seconds on a laptop
