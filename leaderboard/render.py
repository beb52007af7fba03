"""`build`: result files and `ccbench cka` matrices -> leaderboard.csv, cka.csv, LEADERBOARD.md, index.html and
the PNG figures.

Every output is replaced atomically under an flock on out_dir/.lock, so regenerating while another
build or a reader runs never leaves a torn file.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from leaderboard.analyses import NotAvailable, run_all
from leaderboard.cka import cka_long, load_cka
from leaderboard.collect import load_results
from leaderboard.files import build_lock, write_atomic
from leaderboard.markdown import render_markdown
from leaderboard.page import render_html
from leaderboard.plots import all_plots
from leaderboard.table import build_table


def build(results_dir: str | Path, out_dir: str | Path, *, include_overrides: bool = False,
          supervised: str | None = None, echo: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write the leaderboard of `results_dir` into `out_dir`; returns {output name: path written}.

    `supervised` names the reference encoder (name or fingerprint prefix) when its method is not
    'supervised'; `echo` receives the notes and each 'not available: ...' line (e.g. print).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    board = build_table(load_results(results_dir), include_overrides=include_overrides, supervised=supervised)
    cka = load_cka(results_dir)
    analyses = run_all(board, cka)
    plots = all_plots(board, cka)
    written: dict[str, Path] = {}
    with build_lock(out_dir):
        written["csv"] = write_atomic(out_dir / "leaderboard.csv", board.table.to_csv(index=False))
        written["cka_csv"] = write_atomic(out_dir / "cka.csv", cka_long(cka).to_csv(index=False))
        for stale in out_dir.glob("cka_*.png"):  # heatmaps of CKA files removed since an earlier build
            if stale.stem not in plots:
                stale.unlink(missing_ok=True)
        names: dict[str, str | NotAvailable] = {}
        for stem, png in plots.items():
            if isinstance(png, NotAvailable):
                names[stem] = png
                (out_dir / f"{stem}.png").unlink(missing_ok=True)  # no stale figure from an earlier build
            else:
                written[stem] = write_atomic(out_dir / f"{stem}.png", png)
                names[stem] = f"{stem}.png"
        written["markdown"] = write_atomic(out_dir / "LEADERBOARD.md", render_markdown(board, analyses, names))
        written["html"] = write_atomic(out_dir / "index.html", render_html(board, analyses, plots))
    if echo is not None:
        for note in board.notes:
            echo(note)
        for title, result in [*analyses.items(), *plots.items()]:
            if isinstance(result, NotAvailable):
                echo(f"{title}: {result}")
    return written
