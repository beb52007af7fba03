"""The import rules of the layout: encoders/ and tasks/ know nothing of harness/; leaderboard/ reads
result files only and never imports torch. Checked on the source, so a stray import fails here."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"encoders": {"harness", "leaderboard"}, "tasks": {"harness", "leaderboard"},
             "leaderboard": {"harness", "torch", "torchvision", "encoders", "tasks"}}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package]) for f in files}
    assert {f: names for f, names in offenders.items() if names} == {}


def test_every_task_name_maps_to_code() -> None:
    from harness.heads import HEADS
    from harness.metrics import METRICS
    from harness.train import LOSSES
    from tasks import TASKS

    for task in TASKS.values():
        assert task.head in HEADS and task.metric in METRICS and task.loss in LOSSES, task.id
