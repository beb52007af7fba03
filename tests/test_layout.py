"""The import rules of the layout: encoders/ and tasks/ know nothing of harness/; leaderboard/ reads
result files only and never imports torch; safefiles/, which harness/ and leaderboard/ both write
through, imports nothing of the project and no numerical library. Checked on the source, so a stray
import fails here."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"encoders": {"harness", "leaderboard"}, "tasks": {"harness", "leaderboard"},
             "leaderboard": {"harness", "torch", "torchvision", "encoders", "tasks"},
             "safefiles": {"harness", "leaderboard", "encoders", "tasks", "torch", "torchvision", "numpy", "zarr"}}


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


def tracked_text_files() -> list[Path]:
    import subprocess

    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if name.endswith((".py", ".md", ".cfg", ".toml", ".txt"))
            or name in ("Makefile", ".ci/run")]


def test_nothing_points_outside_the_repository() -> None:
    """Users clone the repository alone: no file may cite the developers' shared notes."""
    outside = re.compile(r"\.\./shared|shared/PROTOCOL|reference/\w+\.md|\b(?:virb-code|formats|anchors|"
                         r"virb-fidelity|zarr-cache|style)\.md")
    hits = [f"{path.relative_to(ROOT)}:{n}" for path in tracked_text_files()
            if path.is_file() and path != Path(__file__).resolve()
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if outside.search(line)]
    assert hits == []


def test_every_protocol_citation_names_a_section_that_exists() -> None:
    protocol = (ROOT / "docs" / "PROTOCOL.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", protocol, flags=re.M))
    items = set(re.findall(r"^(\d+)\. \*\*", protocol.split("\n## 6.")[1].split("\n## 7.")[0], flags=re.M))
    cited = re.compile(r"docs/PROTOCOL\.md section (\d+(?:\.\d+)?)(?: items? (\d+))?")
    bad = []
    for path in tracked_text_files():
        for section, item in cited.findall(path.read_text(errors="replace")):
            if section not in sections or (item and (section != "6" or item not in items)):
                bad.append(f"{path.relative_to(ROOT)}: section {section} item {item or '-'}")
    assert sections >= {"1", "2", "3", "4", "5", "6"} and items == {str(i) for i in range(1, 9)}
    assert bad == []
