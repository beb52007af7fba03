"""Files people share: results, heads and leaderboard outputs get the permissions the umask allows,
and an encoder's name reaches LEADERBOARD.md as text, as it reaches index.html."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from leaderboard.render import build
from tests.reliability.test_kill import leaderboard, planted_results
from tests.reliability.trials import Ccbench, Reference, record, score_command

HOSTILE = '<img src=x onerror="alert(1)">[prize](https://example.com) | *x*'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_shared_outputs_follow_the_umask(ccbench: Ccbench, data: Path, tmp_path: Path) -> None:
    scored = ccbench(tmp_path, score_command(tmp_path, data), umask=0o002)
    built = ccbench(tmp_path, leaderboard(tmp_path / "results", tmp_path / "board"), umask=0o002)
    files = [
        *(tmp_path / "results").glob("*.json"),
        *(tmp_path / "results" / "heads").iterdir(),
        *(tmp_path / "board").iterdir(),
    ]
    modes = {path.name: mode(path) for path in files}
    survived = scored.code == built.code == 0 and set(modes.values()) == {0o664} and mode(tmp_path / "board") == 0o775
    record(
        "results, heads and leaderboard written under umask 002",
        len(files),
        sum(m == 0o664 for m in modes.values()),
        "files 0664, the leaderboard folder 0775: the group that shares them can read them",
    )
    assert survived, (modes, oct(mode(tmp_path / "board")))


def test_encoder_names_are_text_in_the_markdown_as_in_the_page(reference: Reference, tmp_path: Path) -> None:
    results = planted_results(reference, tmp_path / "results", ["plain", "other"])
    first = next(results.glob("1*.json"))
    result = json.loads(first.read_text())
    result["encoder"]["name"] = HOSTILE
    first.write_text(json.dumps(result))
    paths = build(results, tmp_path / "board", include_overrides=True)
    markdown, page = paths["markdown"].read_text(), paths["html"].read_text()
    row = next(line for line in markdown.splitlines() if "onerror" in line)
    checks = [
        "<img" not in markdown,
        '&lt;img src=x onerror="alert(1)"&gt;\\[prize\\](https://example.com) \\| *x*' in row,
        "<img src=x" not in page.split("<h2>Figures")[0],
        "&lt;img src=x onerror=" in page,
    ]
    record(
        "encoder named with HTML, a Markdown link and a '|'",
        1,
        int(all(checks)),
        "LEADERBOARD.md and index.html both show the name as text (HTML escaped; '[', ']', '|' escaped in Markdown)",
    )
    assert checks == [True] * len(checks), row
