"""The command line as users type it: every subcommand with only its required arguments, and the
README's flows end to end without optional flags."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50

from harness.cli import build_parser, main
from harness.results import load_result
from tasks.synthetic import write_cifar100

WORKERS = min(4, max((os.cpu_count() or 1) - 1, 0))
COMMON = {"data_root": None, "cache": Path("~/.cache/ccbench").expanduser(), "results": Path("results"), "quiet": False}
COMPUTE = {"device": "auto", "batch_size": 64, "workers": WORKERS, "image_size": None}
CHOICE = {"key": None, "prefix": None}
ENCODER = {"encoder": "random:0", "name": None, "trust_checkpoint": False, **CHOICE}
TRAINING = {"epochs": None, "seed": [0], "grid": "table2", "force": False, "save_heads": False}
EXTRACTION = {"compute": "auto", "decode": "auto"}
DENSE = {"mode": "auto", "views": None, "cache_budget": None, "memory_budget": None}
BOARD = {"out": Path("leaderboard-out"), "include_overrides": False, "supervised": None}
PROTOCOL = {"protocol": "ccbench"}
ALL_BLOCKS = ["stem", "layer1", "layer2", "layer3", "layer4", "pool"]

# subcommand: (its required arguments, every option's default). image_size None = each task's own size.
BARE = {
    "tasks": ([], {**COMMON, **PROTOCOL, "json": False}),
    "inspect": (["m.pth"], {**COMMON, **CHOICE, "checkpoint": Path("m.pth"), "json": False, "trust_checkpoint": False}),
    "extract": (
        ["--encoder", "random:0", "--task", "cifar100"],
        {**COMMON, **COMPUTE, **EXTRACTION, **ENCODER, **PROTOCOL, "task": "cifar100", "split": "all", "views": None},
    ),
    "score": (
        ["--encoder", "random:0", "--task", "cifar100"],
        {**COMMON, **COMPUTE, **EXTRACTION, **ENCODER, **TRAINING, **DENSE, **PROTOCOL, "task": "cifar100"},
    ),
    "run": (
        ["--encoder", "random:0"],
        {
            **COMMON,
            **COMPUTE,
            **EXTRACTION,
            **ENCODER,
            **TRAINING,
            **DENSE,
            **PROTOCOL,
            "tasks": "all",
            "no_lockstep": False,
        },
    ),
    "submit": (
        ["m.pth", "--name", "mine"],
        {
            **COMMON,
            **COMPUTE,
            **EXTRACTION,
            **TRAINING,
            **DENSE,
            **BOARD,
            **PROTOCOL,
            "checkpoint": Path("m.pth"),
            "name": "mine",
            "method": None,
            "pretrain_data": None,
            "pretrain_images": None,
            "pretrain_epochs": None,
            "trust_checkpoint": False,
            **CHOICE,
            "tasks": "all",
            "no_lockstep": False,
        },
    ),
    "cache": (
        ["ls"],
        {**COMMON, "action": "ls", "digests": [], "all": False, "older_than": None, "repair": False, "json": False},
    ),
    "rescore": (["r.json"], {"results": [Path("r.json")], "json": False}),
    "validate": (["r.json"], {"files": [Path("r.json")]}),
    "calibrate": ([], {**COMMON, **COMPUTE}),
    "plan": (
        ["--encoder", "random:0"],
        {**COMMON, **COMPUTE, **ENCODER, **DENSE, **PROTOCOL, "tasks": "all", "epochs": None},
    ),
    "leaderboard": ([], {**COMMON, **BOARD, **PROTOCOL}),
    "demo": (
        [],
        {
            **COMMON,
            **COMPUTE,
            **EXTRACTION,
            "image_size": 64,
            "out": None,
            "train_images": 1000,
            "test_images": 300,
            "epochs": None,
        },
    ),
    "cka": (
        ["--encoders", "random:0", "random:1"],
        {
            **COMMON,
            **COMPUTE,
            **EXTRACTION,
            "image_size": 112,
            "encoders": ["random:0", "random:1"],
            "blocks": ALL_BLOCKS,
            "task": "imagenet",
            "split": "test",
            "images": 10_000,
            "seed": 0,
            "out": None,
            "trust_checkpoint": False,
        },
    ),
}


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("CCBENCH_DATA", "CCBENCH_CACHE", "CCBENCH_RESULTS"):
        monkeypatch.delenv(variable, raising=False)


def test_the_table_covers_every_subcommand() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(BARE)


@pytest.mark.parametrize("command", sorted(BARE))
def test_each_subcommand_bare_has_its_documented_defaults(command: str, no_env: None) -> None:
    required, defaults = BARE[command]
    parsed = vars(build_parser().parse_args([command, *required]))
    assert parsed.pop("command") == command and parsed.pop("handler").endswith(f"cmd_{command}")
    assert parsed == defaults


def test_one_subcommand_s_default_never_leaks_into_another(no_env: None) -> None:
    """cka's 112 px and demo's 64 px once became every subcommand's --image-size."""
    parser = build_parser()
    for command in ("extract", "score", "run", "submit", "plan", "calibrate"):
        assert parser.parse_args([command, *BARE[command][0]]).image_size is None, command


def test_help_and_parsing_do_not_load_torch() -> None:
    """`ccbench --help` must answer at once: torch is imported by the command that runs, not by parsing."""
    code = (
        "import sys\nfrom harness.cli import build_parser\n"
        "build_parser().parse_args(['score', '--encoder', 'random:0', '--task', 'cifar100'])\n"
        "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'zarr')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_version_is_the_installed_package_s(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"ccbench {version('ccbench')}"


def typed(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`ccbench ARGS` in a fresh process from `cwd`, with only the CCBENCH_* variables set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CCBENCH_")}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A user's folder: a tiny CIFAR-100 download and a released-layout (MoCo v2) checkpoint."""
    home = tmp_path_factory.mktemp("user")
    write_cifar100(home / "data", n_train=60, n_test=30, seed=3)
    torch.manual_seed(5)
    net = resnet50(weights=None)
    state = {f"module.encoder_q.{k}": v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    torch.save({"epoch": 200, "arch": "resnet50", "state_dict": state}, home / "moco_v2_200ep_pretrain.pth.tar")
    env = {
        "CCBENCH_DATA": str(home / "data"),
        "CCBENCH_CACHE": str(home / "cache"),
        "CCBENCH_RESULTS": str(home / "results"),
    }
    return home, env


@pytest.mark.e2e
def test_submit_then_leaderboard_as_typed_gives_a_standard_ranked_result(user_dir: tuple[Path, dict[str, str]]) -> None:
    home, env = user_dir
    done = typed(home, env, "submit", "moco_v2_200ep_pretrain.pth.tar", "--name", "MoCo v2 ImageNet 200")
    assert done.returncode == 0, done.stderr
    (path,) = (home / "results").glob("*__cifar100__*.json")
    assert path.name.endswith("__cifar100__p1.json"), "a run without flags belongs in the standard slot"
    result = load_result(path)
    assert result["overrides"] == {} and result["hparams"]["image_size"] == [224, 224]
    assert result["hparams"]["epochs"] == 100 and result["encoder"]["method"] == "MoCo v2"
    assert (home / "leaderboard-out" / "index.html").is_file()
    assert not (home / "results" / "heads").exists(), "no task is scored with cifar100's heads: none kept"
    environment = result["environment"]
    assert (
        environment["torch"] == torch.__version__ and "submit moco_v2_200ep_pretrain.pth.tar" in environment["command"]
    )
    assert environment["io"]["extract"]["written_bytes"] > 0 and environment["peak_memory"]["rss_bytes"] > 0
    assert (home / "results" / result["predictions"]["file"]).is_file()
    for audit in (["rescore", str(path)], ["validate", str(path)]):
        done = typed(home, env, *audit)
        assert done.returncode == 0, done.stdout + done.stderr

    board = typed(home, env, "leaderboard")
    assert board.returncode == 0, board.stderr
    with open(home / "leaderboard-out" / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["name"] for row in rows] == ["MoCo v2 ImageNet 200"]
    assert float(rows[0]["cifar100"]) == pytest.approx(result["score"])


@pytest.mark.e2e
def test_score_with_a_study_name_records_its_metadata(user_dir: tuple[Path, dict[str, str]]) -> None:
    home, env = user_dir
    env = {**env, "CCBENCH_RESULTS": str(home / "scored")}
    done = typed(
        home,
        env,
        "score",
        "--encoder",
        "moco_v2_200ep_pretrain.pth.tar",
        "--task",
        "cifar100",
        "--name",
        "MoCo v2 ImageNet 200",
        "--save-heads",
    )
    assert done.returncode == 0, done.stderr
    assert len(list((home / "scored" / "heads").glob("*__cifar100__p1__seed0.pt"))) == 1
    (path,) = (home / "scored").glob("*__cifar100__p1.json")
    encoder = load_result(path)["encoder"]
    assert (encoder["method"], encoder["pretrain_data"], encoder["pretrain_epochs"]) == ("MoCo v2", "ImageNet", 200)
    assert json.loads(path.read_text())["overrides"] == {}
