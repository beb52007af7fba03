"""The `ccbench` command line end to end, on official-format fixtures and real checkpoint files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50

from harness.cli import main
from harness.results import load_result, result_path
from tests.test_leaderboard import BATTERY


def ccbench(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI as a user does, in a fresh process (exit code, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_tasks_json_lists_found_data(cifar_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tasks", "--json", "--data-root", str(cifar_root)]) == 0
    rows = json.loads(capsys.readouterr().out)
    cifar = next(r for r in rows if r["id"] == "cifar100")
    assert set(cifar) == {"id", "category", "head", "metric", "data_folder", "found"}
    assert cifar == {
        "id": "cifar100",
        "category": "semantic-image",
        "head": "linear",
        "metric": "top1",
        "data_folder": "cifar-100-python",
        "found": True,
    }
    assert main(["tasks", "--json", "--data-root", str(cifar_root / "nowhere")]) == 0
    assert not next(r for r in json.loads(capsys.readouterr().out) if r["id"] == "cifar100")["found"]


@pytest.fixture(scope="module")
def moco_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MoCo v2 file in the official layout, from a seeded random torchvision ResNet-50."""
    torch.manual_seed(11)
    net = resnet50(weights=None)
    state = {f"module.encoder_q.{k}": v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    state.update(
        {
            "module.encoder_q.fc.0.weight": torch.zeros(2048, 2048),
            "module.encoder_q.fc.0.bias": torch.zeros(2048),
            "module.encoder_q.fc.2.weight": torch.zeros(128, 2048),
            "module.encoder_q.fc.2.bias": torch.zeros(128),
        }
    )
    path = tmp_path_factory.mktemp("ckpt") / "moco_v2_200ep_pretrain.pth.tar"
    torch.save({"epoch": 200, "arch": "resnet50", "state_dict": state}, path)
    return path


def test_inspect_json_reports_format_and_fingerprint(moco_checkpoint: Path) -> None:
    done = ccbench("inspect", str(moco_checkpoint), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert set(info) == {
        "format",
        "key",
        "prefix",
        "fingerprint",
        "tensors",
        "missing",
        "unexpected",
        "nonfinite",
        "candidates",
    }
    assert (info["format"], info["key"], info["prefix"]) == ("moco", "state_dict", "module.encoder_q.")
    assert len(info["fingerprint"]) == 64
    assert info["missing"] == [] and info["unexpected"] == [] and info["tensors"] == 318 + 4


def test_inspect_of_a_foreign_file_lists_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "layer5.0.conv1.weight": torch.zeros(1)}, path)
    done = ccbench("inspect", str(path), "--json")
    info = json.loads(done.stdout)
    assert done.returncode == 1 and info["fingerprint"] is None
    assert "layer5.0.conv1.weight" in info["unexpected"] and "layer1.0.conv1.weight" in info["missing"]
    assert done.stderr.startswith(f"ccbench: {path}: torchvision layout") and done.stderr.count("\n") == 1


def test_errors_are_one_line_without_traceback(tmp_path: Path, moco_checkpoint: Path) -> None:
    missing_data = ccbench(
        "score",
        "--encoder",
        "random:0",
        "--task",
        "cifar100",
        "--data-root",
        str(tmp_path),
        "--cache",
        str(tmp_path / "c"),
        "--results",
        str(tmp_path / "r"),
    )
    assert missing_data.returncode == 2
    line = missing_data.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(tmp_path / "cifar-100-python" / "train") in line and "cifar-100-python.tar.gz" in line
    truncated = tmp_path / "cut.pth.tar"
    truncated.write_bytes(moco_checkpoint.read_bytes()[:100_000])
    bad_ckpt = ccbench("inspect", str(truncated))
    assert bad_ckpt.returncode == 2 and str(truncated) in bad_ckpt.stderr and "Traceback" not in bad_ckpt.stderr
    unknown = ccbench("score", "--encoder", "random:0", "--task", "cifar10", "--data-root", str(tmp_path))
    assert unknown.returncode == 2 and "Did you mean: cifar100" in unknown.stderr


@pytest.mark.e2e
def test_score_end_to_end_well_above_chance(
    cifar_root: Path, tmp_path: Path, moco_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    cache, results = tmp_path / "cache", tmp_path / "results"
    args = [
        "score",
        "--encoder",
        str(moco_checkpoint),
        "--task",
        "cifar100",
        "--data-root",
        str(cifar_root),
        "--cache",
        str(cache),
        "--results",
        str(results),
        "--image-size",
        "64",
        "--epochs",
        "40",
        "--quiet",
        "--workers",
        "0",
    ]
    assert main(args) == 0
    written = sorted(results.glob("*.json"))
    assert len(written) == 1
    result = load_result(written[0])
    assert result["encoder"]["name"] == "moco_v2_200ep_pretrain" and result["encoder"]["format"] == "moco"
    assert written[0] == result_path(results, result["encoder"]["fingerprint"], "cifar100", result_path_tag(result))
    assert result["task"] == "cifar100" and result["metric"] == "top1" and result["category"] == "semantic-image"
    assert result["splits"] == {"train": 540, "val": 60, "test": 200}
    assert result["score"] > 0.4, result["score"]  # 10 classes present: chance is 0.1
    low, high = result["ci95"]
    assert low <= result["score"] <= high and high - low < 0.2 and result["score_std"] == 0.0
    assert 1 <= result["epoch"] <= 40 and len(result["seeds"][0]["val_curve"]) == 40
    assert set(result["timings"]) == {"extract", "train", "evaluate"} and result["timings"]["extract"] > 0
    assert result["overrides"] == {"epochs": 40, "image_size": 64}
    assert len(result["cache_key"]) == 64 and set(result["cache_stores"]) == {"train/pool", "test/pool"}

    # A second score reuses the cache and the result; --force rescoring from the cache gives the same score.
    assert main(args) == 0
    assert main(args + ["--force"]) == 0
    again = load_result(written[0])
    assert again["score"] == result["score"] and again["timings"]["extract"] == 0.0

    capsys.readouterr()
    assert main(["cache", "ls", "--json", "--cache", str(cache)]) == 0
    stores = json.loads(capsys.readouterr().out)
    assert {s["image_set"] for s in stores} == {"cifar-100-python/train", "cifar-100-python/test"}
    assert all(s["complete"] and s["block"] == "pool" for s in stores)
    assert main(["cache", "verify", "--cache", str(cache)]) == 0
    assert main(["cache", "rm", stores[0]["digest"][:12], "--cache", str(cache)]) == 0
    capsys.readouterr()
    assert main(["cache", "ls", "--json", "--cache", str(cache)]) == 0
    assert [s["digest"] for s in json.loads(capsys.readouterr().out)] == [stores[1]["digest"]]


def result_path_tag(result: dict) -> str:
    from harness.cache_key import digest

    return f"{result['version']}-custom-{digest(result['overrides'])[:8]}"


@pytest.mark.e2e
def test_demo_prints_two_encoders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(
            [
                "demo",
                "--out",
                str(tmp_path),
                "--train-images",
                "200",
                "--test-images",
                "50",
                "--epochs",
                "3",
                "--quiet",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "random:0" in out and "random:1" in out and "chance level" in out
    assert len(list((tmp_path / "results").glob("*.json"))) == 2
    assert all(load_result(p)["overrides"]["image_size"] == 64 for p in (tmp_path / "results").glob("*.json"))
    assert f"leaderboard: {tmp_path / 'leaderboard' / 'index.html'}" in out
    assert "random:0" in (tmp_path / "leaderboard" / "LEADERBOARD.md").read_text()
    board = tmp_path / "board"
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(board)]) == 2, (
        "demo runs are non-standard (64 px): they are not ranked unless asked"
    )
    assert (
        main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(board), "--include-overrides"]) == 0
    )
    html = (board / "index.html").read_text()
    assert "random:0" in html and "random:1" in html and "data:image/png;base64," in html
    assert (board / "leaderboard.csv").read_text().count("\n") == 3


@pytest.mark.e2e
def test_run_scores_found_tasks_with_the_paper_grid(
    cifar_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [
        "run",
        "--encoder",
        "random:0",
        "--tasks",
        "all",
        "--data-root",
        str(cifar_root),
        "--cache",
        str(tmp_path / "cache"),
        "--results",
        str(tmp_path / "results"),
        "--image-size",
        "32",
        "--epochs",
        "4",
        "--grid",
        "paper",
        "--quiet",
        "--workers",
        "0",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    (path,) = (tmp_path / "results").glob("*__cifar100__*.json")
    result = load_result(path)
    grid = result["seeds"][0]["grid"]
    assert [g["point"] for g in grid] == ["adam-0.0003", "adam-0.0001", "adam-0.001", "sgd-0.01", "sgd-0.001"]
    assert all(len(g["val_curve"]) == 4 for g in grid)
    chosen = max(grid, key=lambda g: g["best_val"])
    assert result["val_score"] == chosen["best_val"] and result["seeds"][0]["point"] == chosen["point"]
    assert result["hparams"]["optimizer"] == chosen["optimizer"] and result["hparams"]["lr"] == chosen["lr"]
    assert result["overrides"]["grid"] == "paper" and "cifar100" in out
    others = [t for t in json.loads(_tasks_json(cifar_root, capsys)) if not t["found"]]
    if others:
        assert "not scored, data not found" in out and all(t["id"] in out for t in others)


def _tasks_json(root: Path, capsys: pytest.CaptureFixture) -> str:
    main(["tasks", "--json", "--data-root", str(root)])
    return capsys.readouterr().out


@pytest.mark.e2e
def test_submit_fills_study_metadata_and_builds_the_leaderboard(
    cifar_root: Path, tmp_path: Path, moco_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [
        "submit",
        str(moco_checkpoint),
        "--name",
        "MoCov2 ImageNet 200",
        "--pretrain-images",
        "1281167",
        "--data-root",
        str(cifar_root),
        "--cache",
        str(tmp_path / "cache"),
        "--results",
        str(tmp_path / "r"),
        "--out",
        str(tmp_path / "board"),
        "--include-overrides",
        "--image-size",
        "32",
        "--epochs",
        "3",
        "--quiet",
        "--workers",
        "0",
    ]
    assert main(args) == 0
    (path,) = (tmp_path / "r").glob("*__cifar100__*.json")
    result = load_result(path)
    encoder = result["encoder"]
    assert (encoder["name"], encoder["method"], encoder["pretrain_data"], encoder["pretrain_epochs"]) == (
        "MoCov2 ImageNet 200",
        "MoCo v2",
        "ImageNet",
        200,
    )
    assert encoder["pretrain_domain"] == "object" and result["battery"] == BATTERY  # the leaderboard tests' fixture
    assert result["battery"][4] == {
        "task": "cifar100",
        "category": "semantic-image",
        "metric": "top1",
        "domains": ["object"],
    }
    assert encoder["pretrain_images"] == 1281167 and encoder["format"] == "moco"
    assert "MoCov2 ImageNet 200" in (tmp_path / "board" / "LEADERBOARD.md").read_text()
