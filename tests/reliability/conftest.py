"""Fixtures of the fault-injection suite (helpers in tests.reliability.trials) and its marker.

Every test here carries the `reliability` marker (`pytest -m reliability` runs the suite alone,
`-m "not reliability"` skips it). With CCBENCH_FAULT_TABLE=README.md the table of what was
injected, how often and what the user saw replaces the README's one between its markers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tasks.synthetic import write_cifar100
from tests.reliability.child import Fault
from tests.reliability.trials import ROWS, Ccbench, Reference, score_command

BEGIN, END = "<!-- fault table: begin -->", "<!-- fault table: end -->"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def ccbench(tmp_path_factory: pytest.TempPathFactory) -> Ccbench:
    return Ccbench(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CIFAR-100-format data root: 300 train images (two commit units) and 60 test images."""
    root = tmp_path_factory.mktemp("reliability-data")
    write_cifar100(root, n_train=300, n_test=60, seed=4)
    return root


@pytest.fixture(scope="session")
def reference(ccbench: Ccbench, data: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    base = tmp_path_factory.mktemp("reference")
    log = base.parent / f"{base.name}.events"
    outcome = ccbench(base, score_command(base, data), fault=Fault("log", log=str(log)))
    assert outcome.code == 0, outcome.err
    result = json.loads(next((base / "results").glob("*.json")).read_text())
    return Reference(base, log.read_text().splitlines(), result)


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("CCBENCH_FAULT_TABLE")
    if not target or not ROWS:
        return
    lines = [BEGIN, "| Fault | Trials | Survived | What the user sees |", "|---|---|---|---|"]
    cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    rows = sorted(ROWS, key=lambda row: not row.fault.startswith("kill"))  # the kill trials first, then as run
    lines += [f"| {cell(row.fault)} | {row.trials} | {row.survived} | {cell(row.seen)} |" for row in rows]
    path = Path(target)
    text = path.read_text()
    start, stop = text.index(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n".join(lines) + "\n" + text[stop:])
