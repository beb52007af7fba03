"""Per-sample predictions beside results: rescoring reproduces every metric's stored score and interval
exactly, a swapped file is refused, the paired bootstrap separates planted pairs that interval overlap
cannot, and `cache ls` / `cache rm --older-than` see and free stores by age, never one being written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cache import FeatureStore, list_stores
from harness.cache_key import CacheKey
from harness.cli import main
from harness.metrics import METRICS, Metric, build_metric
from harness.results import save_predictions, write_result
from leaderboard.bootstrap import interval, paired_difference
from leaderboard.collect import load_results
from leaderboard.errors import LeaderboardError
from leaderboard.predictions import predictions_path, read_predictions, rescore
from leaderboard.table import build_table
from leaderboard.uncertainty import OVERLAP, PAIRED, SEPARABLE, TIE
from tests.test_results import example

SEEDS = [0, 1, 2]


def planted_batches(metric: str, seed: int, images: int = 12) -> list[tuple[torch.Tensor, object]]:
    """Batches of (outputs, targets) for `metric`, a noisy prediction of a fixed truth, per seed."""
    truth = torch.Generator().manual_seed(100)
    noise = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(images // 4):
        if metric == "top1":
            targets = torch.randint(5, (4,), generator=truth)
            outputs = torch.nn.functional.one_hot(targets, 5).float() + 1.5 * torch.rand(4, 5, generator=noise)
        elif metric in ("miou", "miou_fg"):
            targets = torch.randint(3, (4, 6, 7), generator=truth)
            targets[:, 0, 0] = 255
            outputs = torch.nn.functional.one_hot(targets.clamp(max=2), 3).permute(0, 3, 1, 2).float()
            outputs = outputs + 1.5 * torch.rand(outputs.shape, generator=noise)
        elif metric == "positive_iou":
            targets = torch.randint(2, (4, 6, 7), generator=truth)
            outputs = (2 * targets - 1).float().unsqueeze(1) + 2.5 * torch.randn(4, 1, 6, 7, generator=noise)
        elif metric == "neg_l1":
            targets = 1 + 4 * torch.rand(4, 6, 7, generator=truth)
            targets[:, :2] = 0  # missing depth
            outputs = targets + torch.randn(targets.shape, generator=noise)
        else:
            flow = 10 * torch.randn(4, 2, 6, 7, generator=truth)
            valid = (torch.rand(4, 6, 7, generator=truth) > 0.3).float()
            targets = {"flow": flow, "valid": valid}
            outputs = flow + 4 * torch.randn(flow.shape, generator=noise)
        batches.append((outputs, targets))
    return batches


def scored(metric: str) -> list[Metric]:
    out = []
    for seed in SEEDS:
        accumulator = build_metric(metric, num_classes=3 if metric.startswith("miou") else None, positive=(1,))
        for outputs, targets in planted_batches(metric, seed):
            accumulator.update(outputs, targets)
        out.append(accumulator)
    return out


def write_scored(folder: Path, metrics: list[Metric], name: str = "r", fingerprint: str = "ab" * 32) -> Path:
    """A result file as harness.evaluate writes it, with its predictions beside it."""
    path = folder / f"{name}.json"
    count = len(metrics[0].statistics())
    record = save_predictions(path, metrics, SEEDS[: len(metrics)], [f"img{k:03d}" for k in range(count)])
    per_seed = []
    for seed, metric in zip(SEEDS, metrics):
        low_high = metric.interval()
        per_seed.append({"seed": seed, "score": metric.compute(), "ci95": list(low_high) if low_high else None})
    result = example()
    result["encoder"]["fingerprint"] = fingerprint
    result["encoder"]["name"] = name
    result.update(
        metric=metrics[0].name,
        seeds=per_seed,
        score=float(np.mean([s["score"] for s in per_seed])),
        ci95=per_seed[0]["ci95"],
        splits={"train": 9, "val": 1, "test": count},
        predictions=record,
    )
    return write_result(path, result)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_rescore_reproduces_every_metric_exactly(tmp_path: Path, metric: str, capsys: pytest.CaptureFixture) -> None:
    path = write_scored(tmp_path, scored(metric))
    result = json.loads(path.read_text())
    recomputed = rescore(result, read_predictions(path, result))
    assert [r["score"] for r in recomputed] == [s["score"] for s in result["seeds"]]
    assert [r["ci95"] for r in recomputed] == [s["ci95"] for s in result["seeds"]]
    assert len({r["score"] for r in recomputed}) > 1, "the seeds' planted noise differs"
    assert main(["rescore", str(path)]) == 0
    capsys.readouterr()
    assert main(["rescore", "--json", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["same"] for row in rows] == [True] * len(SEEDS)


def test_rescore_finds_an_edited_score(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_scored(tmp_path, scored("miou"))
    result = json.loads(path.read_text())
    result["seeds"][1]["score"] += 1e-9
    path.write_text(json.dumps(result))
    assert main(["rescore", str(path)]) == 1
    assert "False" in capsys.readouterr().out


def test_predictions_file_reads_with_numpy_alone_and_holds_every_seed(tmp_path: Path) -> None:
    path = write_scored(tmp_path, scored("top1"))
    with np.load(predictions_path(path), allow_pickle=False) as arrays:
        assert arrays["predicted"].shape == (3, 12) and arrays["ids"][0] == "img000"
        assert arrays["seeds"].tolist() == SEEDS and arrays["targets"].shape == (12,)
    with np.load(predictions_path(write_scored(tmp_path, scored("miou"), "d")), allow_pickle=False) as arrays:
        assert arrays["statistics"].shape == (3, 12, 9) and arrays["statistics"].dtype.kind in "iu"


def test_a_swapped_predictions_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_scored(tmp_path, scored("neg_l1"))
    other = write_scored(tmp_path, scored("neg_l1")[:1] * 3, "other")
    predictions_path(path).write_bytes(predictions_path(other).read_bytes())
    result = json.loads(path.read_text())
    with pytest.raises(LeaderboardError, match="sha256 differs") as refused:
        read_predictions(path, result)
    assert "\n" not in str(refused.value) and str(predictions_path(path)) in str(refused.value)
    assert main(["rescore", str(path)]) == 1
    assert main(["validate", str(path), str(other)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith(f"{predictions_path(path)}: sha256 differs") and out[-1] == f"{other}: ok"


def test_validate_names_the_key_of_a_submitted_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "submitted.json"
    result = example()
    result["seeds"][0]["score"] = "high"
    path.write_text(json.dumps(result))
    assert main(["validate", str(path)]) == 1
    assert (
        capsys.readouterr().out
        == f'{path}: seeds[0].score "high" is not a number; the file is damaged, rescore the task\n'
    )


def planted_pair(samples: int = 400, apart: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Hits of two classifiers on the same samples: b equals a except on `apart` samples a gets right
    and b wrong. Their own intervals overlap (both about +-0.04), yet b is worse on every resample."""
    a = (np.random.default_rng(1).random(samples) < 0.75).astype(np.int64)
    b = a.copy()
    b[np.flatnonzero(a)[:apart]] = 0
    return a, b


def test_paired_bootstrap_separates_what_interval_overlap_cannot() -> None:
    a, b = planted_pair()
    stats = [np.stack([hits, np.ones_like(hits)], axis=1).astype(float) for hits in (a, b)]
    own = [interval("top1", s) for s in stats]
    assert own[0][0] <= own[1][1] and own[1][0] <= own[0][1], "their own intervals overlap"
    low, high = paired_difference("top1", [stats[0]], [stats[1]])
    assert 0 < low <= high and high - low < own[0][1] - own[0][0]
    low, high = paired_difference("top1", [stats[0]], [stats[0][::-1].copy()])
    assert low <= 0 <= high, "unrelated samples of the same accuracy stay inseparable"


def classifier(hits: np.ndarray) -> Metric:
    """A top1 accumulator whose predictions hit the target exactly where `hits` is 1."""
    metric = build_metric("top1")
    outputs = torch.nn.functional.one_hot(torch.tensor(1 - hits), 2).float()
    metric.update(outputs, torch.zeros(len(hits), dtype=torch.long))
    return metric


def test_the_leaderboard_marks_a_planted_pair_separable_by_the_paired_test(tmp_path: Path) -> None:
    for name, hits in zip("ab", planted_pair()):
        metric = classifier(hits)
        write_scored(tmp_path, [metric], name, name * 64)
        assert metric.compute() == pytest.approx(hits.mean())
    board = build_table(load_results(tmp_path))
    row = board.table.set_index("name").loc["a"]
    assert (row["cifar100_vs_next"], row["cifar100_vs_next_by"]) == (SEPARABLE, PAIRED)
    for name in ("a", "b"):  # without predictions, the same pair falls back to overlapping intervals
        result = json.loads((tmp_path / f"{name}.json").read_text())
        del result["predictions"]
        (tmp_path / f"{name}.json").write_text(json.dumps(result))
    row = build_table(load_results(tmp_path)).table.set_index("name").loc["a"]
    assert (row["cifar100_vs_next"], row["cifar100_vs_next_by"]) == (TIE, OVERLAP)


def test_a_refused_predictions_file_falls_back_to_overlap_with_a_note(tmp_path: Path) -> None:
    for name, hits in zip("ab", planted_pair()):
        write_scored(tmp_path, [classifier(hits)], name, name * 64)
    predictions_path(tmp_path / "b.json").write_bytes(b"not a zip")
    board = build_table(load_results(tmp_path))
    assert board.table.set_index("name").loc["a", "cifar100_vs_next_by"] == OVERLAP
    assert any("b.predictions.npz: sha256 differs" in note for note in board.notes)


# ---- cache ls / rm --older-than -----------------------------------------------------------------


def make_store(cache: Path, block: str, complete: bool) -> Path:
    key = CacheKey.build("e" * 64, "m" * 64, 3, {"size": [8, 8]}, block)
    store = FeatureStore.open_for_write(cache, key, (4,), "toy/test")
    store.write_unit(0, np.ones((3, 4), dtype=np.float16))
    if complete:
        store.mark_complete()
    store.close()
    return store.path


def age(path: Path, days: float) -> None:
    """Make every file and folder of a store look last written `days` ago."""
    then = time.time() - days * 86400
    for entry in [path, *path.rglob("*")]:
        os.utime(entry, (then, then))


def test_cache_ls_shows_size_and_age(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = make_store(tmp_path, "pool", complete=True)
    age(path, 40)
    assert main(["cache", "ls", "--cache", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["bytes"] > 0 and 40 * 86400 <= row["age_s"] < 40 * 86400 + 600
    assert main(["cache", "ls", "--cache", str(tmp_path)]) == 0
    assert "40d" in capsys.readouterr().out


def test_cache_rm_older_than_frees_old_stores_only_and_never_one_being_written(tmp_path: Path) -> None:
    old_complete = make_store(tmp_path, "pool", complete=True)
    old_stale = make_store(tmp_path, "layer4", complete=False)  # its writer died
    young = make_store(tmp_path, "layer3", complete=True)
    busy = make_store(tmp_path, "layer2", complete=False)
    for path in (old_complete, old_stale, busy):
        age(path, 45)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom harness.cache import store_lock\n"
            f"held = store_lock(Path({str(busy)!r}))\nprint('held', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["cache", "rm", "--older-than", "30d", "--cache", str(tmp_path)]) == 0
    finally:
        holder.kill()
        holder.wait()
    assert sorted(list_stores(tmp_path)) == sorted([young, busy])
