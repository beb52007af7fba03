"""The import rules of the layout: encoders/ and tasks/ know nothing of harness/; leaderboard/ reads
result files only and never imports torch; leaderboard/files.py, which harness/ and leaderboard/ both
write through, imports nothing of the project and no numerical library. Checked on the source, so a stray
import fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "encoders": {"harness", "leaderboard", "tasks"},
    "tasks": {"harness", "leaderboard", "encoders"},
    "leaderboard": {"harness", "torch", "torchvision", "encoders", "tasks"},
    "leaderboard/files.py": {
        "harness",
        "leaderboard",
        "encoders",
        "tasks",
        "torch",
        "torchvision",
        "numpy",
        "pandas",
        "zarr",
    },
}


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
    files = [ROOT / package] if package.endswith(".py") else sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package]) for f in files}
    assert {f: names for f, names in offenders.items() if names} == {}


def harness_imports(path: Path) -> set[str]:
    """The harness modules `path` imports (any depth in the file, `from harness import x` included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("harness."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "harness":
                names.update(f"harness.{a.name}" for a in node.names if (ROOT / "harness" / f"{a.name}.py").exists())
            elif node.module.startswith("harness."):
                names.add(node.module)
    return names


def test_harness_modules_import_one_way() -> None:
    """No cycle among harness modules (a cycle forces imports inside functions and hides the order)."""
    graph = {f"harness.{p.stem}": harness_imports(p) for p in (ROOT / "harness").glob("*.py")}
    state: dict[str, str] = {}

    def visit(module: str, trail: tuple[str, ...]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import cycle: " + " -> ".join(trail[trail.index(module) :] + (module,))
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            visit(imported, trail + (module,))
        state[module] = "done"

    for module in sorted(graph):
        visit(module, ())


def string_literals(path: Path) -> set[str]:
    """A module's string constants, docstrings and other bare string statements aside (comments are not in
    the tree at all)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare
    }


def test_leaderboard_holds_no_task_table() -> None:
    """The battery's home is tasks/battery.py and the leaderboard learns it from result files, so among the
    string literals of leaderboard/ at most one battery task id may appear (taxonomy.IMAGENET, the anchor of
    the ImageNet correlation, and pretrain_data's 'imagenet' prefix): a second one starts a copied table."""
    from tasks import TASKS

    where: dict[str, list[str]] = {}
    for path in sorted((ROOT / "leaderboard").rglob("*.py")):
        for task in sorted(string_literals(path) & set(TASKS)):
            where.setdefault(task, []).append(str(path.relative_to(ROOT)))
    assert len(where) <= 1, f"task ids in leaderboard/: {where}; learn them from the results' battery instead"


def test_every_task_name_maps_to_code() -> None:
    from encoders import BLOCK_NAMES
    from harness.heads import HEADS
    from harness.losses import build_loss
    from harness.metrics import build_metric
    from tasks import PROTOCOLS, battery
    from tasks.spec import BLOCKS_READ, HEAD_BLOCKS

    for protocol in PROTOCOLS:
        for task in battery(protocol).values():
            assert task.head in HEADS and task.protocol == protocol, task.id
            assert callable(build_loss(task.loss, task.class_weights, task.positive)), task.id
            assert build_metric(task.metric, task.num_classes, task.positive, task.secondary).name == task.metric
            assert task.blocks == HEAD_BLOCKS[task.head], task.id
    assert BLOCKS_READ == BLOCK_NAMES


def tracked_text_files() -> list[Path]:
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        ROOT / name
        for name in listed
        if name.endswith((".py", ".md", ".cfg", ".toml", ".txt")) or name in ("Makefile", ".ci/run")
    ]


def test_nothing_points_outside_the_repository() -> None:
    """Users clone the repository alone: no file may cite the developers' shared notes."""
    outside = re.compile(
        r"\.\./shared|shared/PROTOCOL|reference/\w+\.md|\b(?:virb-code|formats|anchors|"
        r"virb-fidelity|zarr-cache|style)\.md"
    )
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in tracked_text_files()
        if path.is_file() and path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
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
