"""LEADERBOARD.md: the table, the notes that explain it and the analyses, for a repository or a PR."""

from __future__ import annotations

import html

from leaderboard.analyses import Analysis, NotAvailable
from leaderboard.cells import LEGEND, cell, display_columns, frame_text, heading
from leaderboard.figures import Plot
from leaderboard.table import Leaderboard


def _escape(text: str) -> str:
    """Text as it reads, whoever named the encoder: HTML escaped as index.html escapes it (Markdown
    renders raw HTML), '[' and ']' so a name never becomes a link, '|' so it never splits a cell."""
    escaped = html.escape(text, quote=False).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
    return escaped.replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(board: Leaderboard, analyses: dict[str, Analysis], figures: list[Plot]) -> str:
    """`figures`: each links its PNG file (written beside this one) or says why it is missing."""
    columns = display_columns(board)
    header = [f"{c} ({line})" if (line := heading(board, c)[0]) else c for c in columns]
    rows = [[cell(board, row, c)[0] for c in columns] for _, row in board.table.iterrows()]
    lines = ["# ccbench leaderboard", "", *_table(header, rows), "", LEGEND, "", "## Notes", ""]
    lines += [f"- {_escape(note)}" for note in board.notes] + ["", "## Analyses", ""]
    for title, result in analyses.items():
        lines.append(f"### {_escape(title)}")
        lines.append("")
        if isinstance(result, NotAvailable):
            lines.append(_escape(str(result)))
        elif title.startswith("4."):
            lines.append(f"{len(result)} normalized scores; see the figure below.")
        else:
            lines += _table(list(result.columns), frame_text(result))
        lines.append("")
    lines += ["## Figures", ""]
    for figure in figures:
        number = f"Figure {figure.number} (paper). " if figure.number else ""
        lines.append(f"### {_escape(number + figure.title)}")
        lines.append("")
        if isinstance(figure.png, NotAvailable):
            lines.append(f"{figure.stem}: {_escape(str(figure.png))}")
        else:
            lines += [f"![{figure.stem}]({figure.stem}.png)", "", f"Reading: {_escape(figure.reading)}"]
            lines += [f"*{_escape(figure.note)}*"] if figure.note else []
        lines.append("")
    return "\n".join(lines) + "\n"
