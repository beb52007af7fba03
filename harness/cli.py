"""`ccbench`: list tasks, inspect checkpoints, extract features, score, submit, build the leaderboard,
manage the cache, run the demo.

This module only parses: each subcommand gets option objects of its own (argparse's `parents`
share one action object between subcommands, so one subcommand's default leaked into all of them),
and the code that runs a command, with torch, is imported after parsing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from encoders.blocks import BLOCK_NAMES
from harness import __version__
from leaderboard.locations import Location, location

MODES = ("auto", "cache", "loop")
"""How dense heads get features: as the planner chooses, from the feature cache, or from the
encoder run in the loop on decoded inputs (image-level heads always use the cache)."""
COMPUTES = ("auto", "fp32", "bf16")
"""How extraction runs the encoder (harness.compute): auto is bf16 on a CUDA GPU, fp32 elsewhere."""
DECODES = ("auto", "pil", "jpeg", "device")
"""Who decodes JPEG files for extraction (harness.loader): auto is the device on CUDA, else jpeg."""
PROTOCOLS = ("ccbench", "virb")
"""tasks.spec.PROTOCOLS, the first the default, named here without importing the battery (and torch)
before parsing; a test checks the two agree."""


def default_path(variable: str, fallback: str | None) -> Path | None:
    value = os.environ.get(variable, fallback)
    return Path(value).expanduser() if value else None


def default_location(variable: str, fallback: str) -> Location:
    """Like default_path, for folders that may be fsspec URLs (s3://bucket/results)."""
    return location(os.environ.get(variable) or fallback)


def byte_size(text: str) -> int:
    """'500M', '2.5G', '1T' or plain bytes -> bytes (powers of 1024)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if text[-1:].upper() in units:
            return int(float(text[:-1]) * units[text[-1].upper()])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500M, 50G)") from None


def duration(text: str) -> float:
    """'30d', '12h', '90m', '2w' or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    try:
        if text[-1:].lower() in units:
            return float(text[:-1]) * units[text[-1].lower()]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30d, 12h)") from None


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        type=Path,
        default=default_path("CCBENCH_DATA", None),
        help="folder holding each task's data folder (default: $CCBENCH_DATA)",
    )
    p.add_argument(
        "--cache",
        type=location,
        default=default_location("CCBENCH_CACHE", "~/.cache/ccbench"),
        help="feature cache root, a folder or an fsspec URL such as s3://bucket/cache (default: "
        "$CCBENCH_CACHE or ~/.cache/ccbench)",
    )
    p.add_argument(
        "--results",
        type=location,
        default=default_location("CCBENCH_RESULTS", "results"),
        help="results folder, or an fsspec URL such as s3://bucket/results (default: $CCBENCH_RESULTS or ./results)",
    )
    p.add_argument("--quiet", action="store_true", help="plain log lines instead of progress bars")


def add_compute(p: argparse.ArgumentParser, image_size: int | None = None) -> None:
    """Device and batching; `image_size` is the subcommand's own input size (None: each task's)."""
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N ... (default auto: cuda when available)")
    p.add_argument("--batch-size", type=int, default=64, help="extraction batch size")
    p.add_argument(
        "--workers", type=int, default=min(4, max((os.cpu_count() or 1) - 1, 0)), help="image decoding processes"
    )
    if image_size is None:
        p.add_argument("--image-size", type=int, help="override the task's input size (recorded as an override)")
    else:
        p.add_argument("--image-size", type=int, default=image_size, help=f"input size (default {image_size})")


def add_extraction(p: argparse.ArgumentParser) -> None:
    """How a command that fills the cache computes and decodes; both enter the cache key."""
    p.add_argument(
        "--compute",
        choices=COMPUTES,
        default="auto",
        help="encoder precision for extraction: fp32, or bf16 autocast with channels-last (default auto: "
        "bf16 on CUDA, fp32 elsewhere; anything else is recorded as an override)",
    )
    p.add_argument(
        "--decode",
        choices=DECODES,
        default="auto",
        help="JPEG decoding: pil or jpeg (libjpeg-turbo, same pixels) in the workers, or device (batched on "
        "the GPU, recorded in the cache key) (default auto: device on CUDA, else jpeg)",
    )


def add_encoder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", required=True, help="a checkpoint file, or random:SEED")
    p.add_argument(
        "--name",
        help="display name (default: the file's stem); a study name such as "
        '"MoCo v2 ImageNet 200" fills in the pre-training metadata',
    )
    add_trust(p)
    add_choice(p)


def add_choice(p: argparse.ArgumentParser) -> None:
    """Which part of a checkpoint holds the backbone, for files where several candidates fit."""
    p.add_argument(
        "--key",
        help="the dict in the checkpoint that holds the weights, where several do: e.g. "
        "teacher, state_dict, a/b when nested, . for the top level (default: detected)",
    )
    p.add_argument(
        "--prefix",
        help="the key prefix before torchvision's names, where several fit: e.g. "
        "module.encoder_k., '' for none (default: detected)",
    )


def add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow pickled Python objects in the checkpoint (only for files you trust)",
    )


def add_training(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, help="override the task's epochs (recorded as an override)")
    p.add_argument(
        "--seed", type=int, nargs="+", default=[0], help="head seed(s); several give the mean and every raw score"
    )
    p.add_argument(
        "--grid", default="table2", help="table2 (one point), paper (five), or a JSON file of {optimizer, lr} points"
    )
    p.add_argument("--force", action="store_true", help="rescore even when a result exists")
    p.add_argument(
        "--save-heads",
        action="store_true",
        help="keep every seed's selected head beside the results (kept anyway where another task "
        "is scored with it, e.g. ImageNet's for ImageNetV2)",
    )


def add_dense(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=MODES,
        default="auto",
        help="dense heads: train from the feature cache, with the encoder in the loop, or as "
        "`ccbench plan` chooses (default)",
    )
    p.add_argument(
        "--views", type=int, help="crop views cached per training image of crop tasks (recorded as an override)"
    )
    p.add_argument(
        "--cache-budget",
        type=byte_size,
        help="disk the feature cache may take per dense task (e.g. 200G); over it, loop mode",
    )
    p.add_argument(
        "--memory-budget",
        type=byte_size,
        help="cached maps of a split up to this size are held in memory, larger ones streamed "
        "(default: half the GPU's free memory, a quarter of the host's; 0 always streams)",
    )


def add_board(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        type=Path,
        default=Path("leaderboard-out"),
        help="leaderboard output folder (default ./leaderboard-out)",
    )
    p.add_argument("--include-overrides", action="store_true", help="rank non-standard runs too (e.g. the demo's)")
    p.add_argument("--supervised", help="name or fingerprint prefix of the supervised reference encoder")


def add_protocol(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=PROTOCOLS[0],
        help="ccbench (default): this project's documented choices; virb: the original code's choices "
        "where they change scores (docs/PROTOCOL.md section 8), results kept apart",
    )


def add_tasks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", default="all", help="all (plan: all dense tasks), or a comma-separated list of task ids")


def add_lockstep(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-lockstep",
        action="store_true",
        help="train image-level tasks one after another instead of in one loop (same results; "
        "lockstep holds every task's features in memory at once)",
    )


def command(
    sub: argparse._SubParsersAction,
    name: str,
    handler: str,
    help: str,
    *groups: Callable[[argparse.ArgumentParser], None],
) -> argparse.ArgumentParser:
    """A subcommand with the option `groups`, whose `handler` ("module:function", imported only when
    the command runs) does the work."""
    p = sub.add_parser(name, help=help)
    for add in groups:
        add(p)
    p.set_defaults(handler=handler)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"ccbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = "harness.commands:"
    scoring = (add_common, add_compute, add_extraction, add_encoder, add_training, add_dense, add_protocol)

    p = command(
        sub, "tasks", run + "cmd_tasks", "list the battery and which datasets are found", add_common, add_protocol
    )
    p.add_argument("--json", action="store_true")

    p = command(
        sub,
        "inspect",
        run + "cmd_inspect",
        "detect a checkpoint's format and check its keys",
        add_common,
        add_trust,
        add_choice,
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--json", action="store_true")

    p = command(
        sub,
        "extract",
        run + "cmd_extract",
        "fill the feature cache for a task",
        add_common,
        add_compute,
        add_extraction,
        add_encoder,
        add_protocol,
    )
    p.add_argument("--task", required=True, help="a task id from `ccbench tasks`")
    p.add_argument("--split", choices=["train", "test", "all"], default="all")
    p.add_argument("--views", type=int, help="crop or colour views per training image of a dense task")

    p = command(sub, "score", run + "cmd_score", "extract if needed, train, test, write the result", *scoring)
    p.add_argument("--task", required=True, help="a task id from `ccbench tasks`")

    command(
        sub,
        "run",
        run + "cmd_run",
        "score every task whose data is found, skipping those already scored",
        *scoring,
        add_tasks,
        add_lockstep,
    )

    p = command(
        sub,
        "submit",
        run + "cmd_submit",
        "score a checkpoint on every task found, with its metadata, and rebuild the leaderboard",
        add_common,
        add_compute,
        add_extraction,
        add_trust,
        add_choice,
        add_training,
        add_dense,
        add_board,
        add_protocol,
        add_tasks,
        add_lockstep,
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument(
        "--name",
        required=True,
        help='display name; a study name such as "MoCo v2 ImageNet 200" fills in the metadata below',
    )
    p.add_argument("--method", help="pre-training method, e.g. SwAV, MoCo v2, supervised")
    p.add_argument("--pretrain-data", help="pre-training data, e.g. ImageNet, Places")
    p.add_argument("--pretrain-images", type=int, help="number of pre-training images")
    p.add_argument("--pretrain-epochs", type=int, help="pre-training epochs")

    p = command(sub, "cache", run + "cmd_cache", "list, verify or remove feature stores", add_common)
    p.add_argument("action", choices=["ls", "verify", "rm"])
    p.add_argument(
        "digests", nargs="*", help="store digests or unique prefixes (verify: default all stores, labels and targets)"
    )
    p.add_argument("--all", action="store_true", help="rm: remove every store")
    p.add_argument(
        "--older-than",
        type=duration,
        help="rm: remove the stores (all, or those named) last written longer ago than this (e.g. 30d); "
        "a store another process is writing is kept",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="verify: reset damaged units and remove damaged label or target files, so the next "
        "score or extract rebuilds exactly them",
    )
    p.add_argument("--json", action="store_true")

    p = command(
        sub,
        "rescore",
        run + "cmd_rescore",
        "recompute result files' scores and intervals from their per-sample predictions and compare",
    )
    p.add_argument("results", type=Path, nargs="+", help="result files (.json)")
    p.add_argument("--json", action="store_true")

    p = command(sub, "validate", run + "cmd_validate", "check result files against the result schema")
    p.add_argument("files", type=Path, nargs="+", help="result files (.json), e.g. submitted from elsewhere")

    command(
        sub,
        "calibrate",
        run + "cmd_calibrate",
        "measure this machine's encoder, dense head and cache read speeds for the planner",
        add_common,
        add_compute,
    )

    p = command(
        sub,
        "plan",
        run + "cmd_plan",
        "per dense task: bytes cached and seconds per epoch from the cache vs encoder in the loop",
        add_common,
        add_compute,
        add_encoder,
        add_dense,
        add_protocol,
        add_tasks,
    )
    p.add_argument("--epochs", type=int, help="override the task's epochs")

    command(
        sub,
        "leaderboard",
        run + "cmd_leaderboard",
        "regenerate the leaderboard from the result files",
        add_common,
        add_board,
        add_protocol,
    )

    p = command(
        sub, "demo", run + "cmd_demo", "score two random encoders on a synthetic dataset and rank them", add_common
    )
    add_compute(p, image_size=64)
    add_extraction(p)
    p.add_argument(
        "--out", type=Path, help="where data, cache, results and leaderboard go (default: a new temp folder)"
    )
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--test-images", type=int, default=300)
    p.add_argument("--epochs", type=int, help="override the task's epochs")

    p = command(
        sub,
        "cka",
        "harness.cka:cmd_cka",
        "linear CKA between the blocks of two encoders, as a heatmap",
        add_common,
        add_trust,
    )
    add_compute(p, image_size=112)
    add_extraction(p)
    p.add_argument(
        "--encoders", nargs=2, required=True, metavar=("A", "B"), help="two encoders: checkpoint files or random:SEED"
    )
    p.add_argument(
        "--blocks",
        nargs="+",
        choices=BLOCK_NAMES,
        default=list(BLOCK_NAMES),
        help="blocks compared, of both encoders (default: all)",
    )
    p.add_argument("--task", default="imagenet", help="the task whose images are compared (default imagenet)")
    p.add_argument("--split", choices=["train", "test"], default="test", help="the task's split role")
    p.add_argument("--images", type=int, default=10_000, help="images in the class-balanced subset")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset draw")
    p.add_argument("--out", type=Path, help="output folder (default: <results>/cka)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from harness.errors import USER_ERRORS
    from leaderboard.errors import LeaderboardError

    module, function = args.handler.split(":")
    try:
        return getattr(importlib.import_module(module), function)(args)
    except (*USER_ERRORS, LeaderboardError) as error:
        print(f"ccbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ccbench: interrupted; rerun the same command to resume (finished cache units are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
