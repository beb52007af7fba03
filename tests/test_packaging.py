"""What installing ccbench promises: it fits a researcher's existing torch, carries its license and
protocol document, and runs on any OS (no POSIX-only modules)."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def requirements() -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]
    return {Requirement(line).name: Requirement(line) for line in lines}


def test_torch_is_a_range_that_holds_the_tested_pins() -> None:
    pins = dict(re.findall(r"\b(torch|torchvision)==([\d.]+)", (ROOT / "Makefile").read_text()))
    assert set(pins) == {"torch", "torchvision"}, "the Makefile installs the tested pins"
    for name, pinned in pins.items():
        spec = requirements()[name].specifier
        assert not any(s.operator == "==" for s in spec), f"{name} is pinned in setup.cfg"
        assert spec.contains(pinned), (name, str(spec))


def test_license_file_matches_the_declared_license() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["metadata"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_no_module_needs_a_posix_only_import() -> None:
    posix_only = {"fcntl", "termios", "pwd", "grp", "resource"}
    found = {}
    for path in sorted(ROOT.glob("*/*.py")):
        if path.parts[-2] not in ("encoders", "tasks", "harness", "leaderboard"):
            continue
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if names & posix_only:
            found[str(path.relative_to(ROOT))] = sorted(names & posix_only)
    assert found == {}


def test_the_protocol_document_ships_in_the_repository() -> None:
    protocol = (ROOT / "docs" / "PROTOCOL.md").read_text()
    assert protocol.startswith("# ccbench protocol") and "## 2. The end tasks" in protocol
    assert "docs/PROTOCOL.md" in (ROOT / "README.md").read_text()
