"""The leaderboard's figures as PNG bytes (bare Figure objects: no display, no network), written to files and
embedded in index.html from the same bytes."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leaderboard.analyses import NotAvailable, category_distribution, data_similarity, seed_variance
from leaderboard.cells import MISSING
from leaderboard.cka import CkaRun
from leaderboard.table import Leaderboard
from leaderboard.taxonomy import IMAGENET


def _png(fig: Figure) -> bytes:
    """Figure objects, not pyplot: no global state, so concurrent builds in threads cannot collide."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def category_plot(board: Leaderboard) -> bytes | NotAvailable:
    """Item 4's figure: the distribution of normalized scores per category (box plot plus points)."""
    long = category_distribution(board)
    if isinstance(long, NotAvailable):
        return long
    groups = [(c, long.loc[long["category"] == c, "normalized"].to_numpy()) for c in board.categories]
    groups = [(c, v) for c, v in groups if len(v)]
    fig = Figure(figsize=(1.8 * len(groups) + 2, 4))
    ax = fig.subplots()
    ax.boxplot([v for _, v in groups], showfliers=False)
    for i, (_, v) in enumerate(groups, start=1):
        ax.scatter([i] * len(v), v, s=6, alpha=0.4, color="tab:blue")
    ax.set_xticks(range(1, len(groups) + 1), [c for c, _ in groups])
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("normalized score")
    fig.tight_layout()
    return _png(fig)


def imagenet_scatter(board: Leaderboard) -> bytes | NotAvailable:
    """Each task's score against ImageNet top-1 across encoders (the paper's correlation figure)."""
    if IMAGENET not in board.scores.columns:
        return NotAvailable("imagenet is not scored")
    tasks = [t for t in board.tasks if t != IMAGENET and len(board.scores[[IMAGENET, t]].dropna()) >= 2]
    if not tasks:
        return NotAvailable("no other task shares 2 or more encoders with imagenet")
    cols = min(5, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(3 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(hspace=0.45, wspace=0.3)
    for ax, task in zip(axes.flat, tasks):
        pair = board.scores[[IMAGENET, task]].dropna()
        ax.scatter(pair[IMAGENET], pair[task], s=10)
        r = pair[IMAGENET].corr(pair[task]) if len(pair) > 2 else float("nan")
        ax.set_title(f"{task} (r={r:.2f})" if pd.notna(r) else task, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    fig.supxlabel("imagenet top-1")
    return _png(fig)


def similarity_plot(board: Leaderboard) -> bytes | NotAvailable:
    """Item 5's figure: per task with both groups, the mean normalized score of similar vs dissimilar data."""
    table = data_similarity(board)
    if isinstance(table, NotAvailable):
        return table
    table = table[(table["similar_n"] > 0) & (table["dissimilar_n"] > 0)]
    if table.empty:
        return NotAvailable("no task has encoders pre-trained on both similar and dissimilar data")
    fig = Figure(figsize=(0.6 * len(table) + 3, 4))
    ax = fig.subplots()
    x = range(len(table))
    ax.bar([i - 0.2 for i in x], table["similar_mean"], width=0.4, label="similar pre-training data")
    ax.bar([i + 0.2 for i in x], table["dissimilar_mean"], width=0.4, label="dissimilar pre-training data")
    ax.set_xticks(list(x), [f"{t} ({d})" for t, d in zip(table["task"], table["domain"])], rotation=45, ha="right")
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("mean normalized score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def uncertainty_plot(board: Leaderboard) -> bytes | NotAvailable:
    """Item 8's figure: per task, the relative seed std (against the paper's 0.85%) and the share of
    adjacent encoders that are not separable or unknown."""
    table = seed_variance(board)
    if isinstance(table, NotAvailable):
        return table
    x = list(range(len(table)))
    fig = Figure(figsize=(0.6 * len(table) + 3, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar(x, table["relative_std_%"].fillna(0))
    top.axhline(0.85, color="tab:red", lw=0.8, ls="--", label="paper: 0.85%")
    top.set_ylabel("seed std (% of score)")
    top.legend(fontsize=8)
    pairs = table["adjacent_pairs"].where(table["adjacent_pairs"] > 0)
    tie, unknown = (table["not_separable"] / pairs).fillna(0), (table["unknown"] / pairs).fillna(0)
    bottom.bar(x, tie, label="not separable (≈)")
    bottom.bar(x, unknown, bottom=tie, label="unknown (?)", color="lightgrey")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("share of adjacent pairs")
    bottom.set_xticks(x, list(table["task"]), rotation=45, ha="right")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def cka_heatmap(run: CkaRun) -> bytes:
    """Item 7's figure: blocks of A down, blocks of B across, each cell annotated (undefined ones as '—')."""
    size = len(run.blocks)
    fig = Figure(figsize=(1.1 * size + 2.5, 0.9 * size + 1.8))
    ax = fig.subplots()
    image = ax.imshow(run.matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    for (i, j), value in np.ndenumerate(run.matrix):
        text, dark = (MISSING, True) if np.isnan(value) else (f"{value:.2f}", value > 0.6)
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if dark else "white")
    ax.set_xticks(range(size), run.blocks, rotation=45, ha="right")
    ax.set_yticks(range(size), run.blocks)
    (a, b), (fa, fb) = run.encoders, run.fingerprints
    ax.set_xlabel(f"{b} ({fb[:8]})")
    ax.set_ylabel(f"{a} ({fa[:8]})")
    ax.set_title(f"linear CKA, {run.task} {run.split}, {run.n} images at {run.image_size} px", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _png(fig)


FIGURES = {
    "category_distribution": category_plot,
    "imagenet_scatter": imagenet_scatter,
    "data_similarity": similarity_plot,
    "seed_variance": uncertainty_plot,
}
"""The figures of every board by file stem; CKA heatmaps add one `cka_<run>` each."""


def all_plots(board: Leaderboard, cka: list[CkaRun]) -> dict[str, bytes | NotAvailable]:
    """File stem -> PNG bytes, or why the figure could not be drawn; one heatmap per CKA file."""
    return {**{stem: draw(board) for stem, draw in FIGURES.items()}, **{run.stem: cka_heatmap(run) for run in cka}}
