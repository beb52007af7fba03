"""Helpers of the fault-injection suite: ccbench runs in forked children (tests.reliability.child),
the command every trial scores with, comparisons with the clean reference run, and the rows of
the fault table the README shows (conftest writes it)."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.child import Fault, run


@dataclass
class Outcome:
    """What a child left: its exit status (-9 when killed), each command's code, its output."""

    status: int
    codes: list[int]
    out: str
    err: str
    tmpfs: bool = False
    listing: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return self.codes[-1] if self.codes else self.status

    def error_lines(self) -> list[str]:
        """stderr without the log lines the CLI prints while it works."""
        return [
            line
            for line in self.err.splitlines()
            if line.startswith(("ccbench: error", "Traceback")) or line.startswith("  File ")
        ]


class Ccbench:
    """Runs ccbench commands in children forked from a warm server."""

    def __init__(self, reports: Path) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["tests.reliability.child"])
        self.reports, self.count = reports, 0

    def start(
        self, base: Path, *commands: list[str], fault: Fault = Fault(), umask: int = 0o022, seed: Path | None = None
    ) -> tuple[multiprocessing.process.BaseProcess, Path]:
        """Start a child running `commands` under `fault`; `finish` waits for it."""
        self.count += 1
        report = self.reports / f"run{self.count}"
        process = self.context.Process(
            target=run,
            args=([list(map(str, c)) for c in commands], str(base), fault, str(report), umask, str(seed or "")),
        )
        process.start()
        return process, report

    @staticmethod
    def finish(process: multiprocessing.process.BaseProcess, report: Path) -> Outcome:
        process.join()
        found = json.loads(report.read_text()) if report.exists() else {}
        return Outcome(
            process.exitcode,
            found.get("codes", []),
            Path(f"{report}.out").read_text(),
            Path(f"{report}.err").read_text(),
            found.get("tmpfs", False),
            found.get("listing", {}),
        )

    def __call__(self, base: Path, *commands: list[str], **options: object) -> Outcome:
        return self.finish(*self.start(base, *commands, **options))


def score_command(base: Path, data: Path, *extra: str) -> list[str]:
    """`ccbench score` of random:0 on CIFAR-100 at 32 px, two epochs, cache and results under `base`;
    with --save-heads, so every kind of file a score writes (heads too) is exercised."""
    return [
        "score",
        "--task",
        "cifar100",
        "--encoder",
        "random:0",
        "--data-root",
        data,
        "--cache",
        base / "cache",
        "--results",
        base / "results",
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--quiet",
        "--save-heads",
        *extra,
    ]


@dataclass
class Reference:
    """A clean run: its folder, every file-system event it made (in order) and its result."""

    base: Path
    events: list[str]
    result: dict

    def result_file(self) -> Path:
        return next((self.base / "results").glob("*.json"))


SCORED = ("score", "score_std", "val_score", "epoch", "seeds", "splits", "manifests", "cache_key", "cache_stores")


def same_score(result: dict, expected: dict) -> bool:
    """The result fields a damaged or interrupted run could get wrong (not timings or dates)."""
    return all(result.get(key) == expected.get(key) for key in SCORED)


def copy_run(reference: Reference, target: Path) -> Path:
    shutil.copytree(reference.base, target, dirs_exist_ok=True)
    return target


@dataclass
class Row:
    fault: str
    trials: int
    survived: int
    seen: str


ROWS: list[Row] = []


def record(fault: str, trials: int, survived: int, seen: str) -> None:
    """A row of the README's fault table."""
    ROWS.append(Row(fault, trials, survived, seen))


def shown(line: str, *bases: Path) -> str:
    """A line of output as the README shows it, as code: folders and digests elided, so reruns agree."""
    for base in bases:
        line = line.replace(str(base), "…")
    line = re.sub(r"[0-9a-f]{64}", "<digest>", line)
    return f"`` {re.sub(r'[0-9a-f]{16}', '<id>', line)} ``"
