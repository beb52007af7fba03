"""`build`: result files and `ccbench cka` matrices -> leaderboard.csv, cka.csv, LEADERBOARD.md, index.html and
the PNG figures (leaderboard.figures: the paper's 3 to 7, 13 and 14 with their readings).

The outputs are written into a fresh folder beside the output folder, which then replaces it whole
(files.replace_folder), under a lock beside it: a reader, a concurrent build or a build killed
at any point never meets some new outputs beside some old ones, nor a stale figure of an earlier build.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from leaderboard.analyses import NotAvailable, run_all
from leaderboard.cka import cka_long, load_cka
from leaderboard.collect import DEFAULT_PROTOCOL, load_results
from leaderboard.errors import LeaderboardError
from leaderboard.figures import DRAWN, all_figures
from leaderboard.files import lock, remove_stale, replace_folder, temp_path, write_atomic
from leaderboard.locations import Location
from leaderboard.markdown import render_markdown
from leaderboard.page import render_html
from leaderboard.table import build_table

FILES = {"csv": "leaderboard.csv", "cka_csv": "cka.csv", "markdown": "LEADERBOARD.md", "html": "index.html"}


def is_output(name: str) -> bool:
    """Whether a file of the output folder is one a build writes (the folder is replaced whole);
    `.lock` is where builds before this layout kept their lock."""
    stem, _, suffix = name.rpartition(".")
    return name in FILES.values() or name == ".lock" or (suffix == "png" and (stem in DRAWN or stem.startswith("cka_")))


def build(
    results_dir: str | Location,
    out_dir: str | Path,
    *,
    include_overrides: bool = False,
    supervised: str | None = None,
    echo: Callable[[str], None] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> dict[str, Path]:
    """Write the leaderboard of `results_dir` into `out_dir`; returns {output name: path written}.

    `protocol` picks the one protocol whose results are ranked. `supervised` names the reference encoder (name or fingerprint prefix) when its method is not
    'supervised'; `echo` receives the notes and each 'not available: ...' line (e.g. print). A full
    disk or an unwritable folder is one LeaderboardError, and leaves the previous outputs as they were.
    """
    out_dir = Path(out_dir)
    board = build_table(
        load_results(results_dir), include_overrides=include_overrides, supervised=supervised, protocol=protocol
    )
    cka = load_cka(results_dir)
    analyses = run_all(board, cka)
    figures = all_figures(board, analyses, cka)
    contents: dict[str, tuple[str, str | bytes]] = {
        "csv": (FILES["csv"], board.table.to_csv(index=False)),
        "cka_csv": (FILES["cka_csv"], cka_long(cka).to_csv(index=False)),
        **{f.stem: (f"{f.stem}.png", f.png) for f in figures if not isinstance(f.png, NotAvailable)},
        "markdown": (FILES["markdown"], render_markdown(board, analyses, figures)),
        "html": (FILES["html"], render_html(board, analyses, figures)),
    }
    _publish(out_dir, {name: data for name, data in contents.values()})
    if echo is not None:
        for note in board.notes:
            echo(note)
        said: set[str] = set()  # a figure not drawn for an analysis's reason is said once, by the analysis
        for title, result in [*analyses.items(), *((f.stem, f.png) for f in figures)]:
            if isinstance(result, NotAvailable) and str(result) not in said:
                said.add(str(result))
                echo(f"{title}: {result}")
    return {kind: out_dir / name for kind, (name, _) in contents.items()}


def _publish(out_dir: Path, files: dict[str, str | bytes]) -> None:
    """Write `files` into a new folder and put it in place of `out_dir` (its symlink's target, if
    it is one), which may hold nothing but earlier outputs; the folder keeps its permissions."""
    target = out_dir.resolve()
    if target.exists() and not target.is_dir():
        raise LeaderboardError(f"{out_dir}: not a folder; pass --out a folder for the leaderboard")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with lock(target.parent / f".{target.name}.lock"):
            foreign = sorted(p.name for p in target.iterdir() if not is_output(p.name)) if target.exists() else []
            if foreign:
                raise LeaderboardError(
                    f"{out_dir}: holds {foreign[0]}, which no leaderboard build wrote; the folder is "
                    "replaced whole, so pass --out an empty or leaderboard-only folder"
                )
            remove_stale(target.parent)
            staging = temp_path(target)
            staging.mkdir()
            try:
                for name, data in files.items():
                    write_atomic(staging / name, data)
                if target.exists():
                    os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
                replace_folder(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except OSError as error:
        raise LeaderboardError(
            f"{out_dir}: cannot write the leaderboard ({error.strerror or error}); free space "
            "or pass --out a writable folder (the previous outputs are unchanged)"
        ) from None
