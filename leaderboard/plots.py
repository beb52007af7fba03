"""The leaderboard's figures drawn as bare matplotlib Figure objects (no pyplot, so no display, no global
state: concurrent builds in threads cannot collide), turned into PNG bytes by `png`. Every plot names its
axes, puts encoder names on their points and has a legend or colour bar; correlation matrices use a
diverging scale centred at 0. What each figure means and its reading live in leaderboard.figures."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from leaderboard.cells import MISSING
from leaderboard.cka import CkaRun
from leaderboard.table import Leaderboard
from leaderboard.taxonomy import IMAGENET
from leaderboard.units import axis_label, metric_of, shown

LABEL_SIZE = 6
"""Point labels (encoder names) are small: a board of forty encoders must stay legible where they bunch."""
NAMED = 40
"""Up to this many encoders (the paper's study has 32) every point of a scatter is named; above, each
panel names its three highest, its three lowest and the supervised reference, as a panel of more
names is unreadable (and drawing each costs the build time)."""
ANNOTATED = 12
"""Correlation matrices of up to this many tasks carry their numbers in the cells; larger ones show
the colour only (the numbers are in the analyses' table)."""


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def category_colours(board: Leaderboard) -> dict[str, str]:
    """One matplotlib tab colour per category, in the board's order, shared by every figure."""
    palette = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
    return {c: palette[i % len(palette)] for i, c in enumerate(dict.fromkeys(board.task_category.values()))}


def _legend_of_categories(fig: Figure, board: Leaderboard, categories: list[str]) -> None:
    colours = category_colours(board)
    handles = [Patch(color=colours[c], label=c) for c in categories]
    fig.legend(handles=handles, loc="upper right", fontsize=8, title="category", title_fontsize=8)


def _names(board: Leaderboard, fingerprints: pd.Index) -> list[str]:
    return [str(board.encoders.at[f, "name"]) for f in fingerprints]


def imagenet_scatter(board: Leaderboard, rho: dict[str, float]) -> Figure:
    """Figure 3: each task's score (y, its metric) against ImageNet top-1 (x) over the encoders that scored
    both, one panel per task coloured by category, every point named; `rho` is each task's Spearman."""
    tasks = [t for t in board.tasks if t != IMAGENET and len(board.scores[[IMAGENET, t]].dropna()) >= 2]
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(3.6 * cols, 2.9 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False)
    colours = category_colours(board)
    imagenet = metric_of(board.metric.get(IMAGENET))
    for ax, task in zip(axes.flat, tasks):
        pair = board.scores[[IMAGENET, task]].dropna()
        metric = metric_of(board.metric.get(task))
        x, y = shown(imagenet, pair[IMAGENET]), shown(metric, pair[task])
        ax.scatter(x, y, s=14, color=colours[board.task_category[task]])
        order = pair[task].sort_values().index
        named = set(order) if len(order) <= NAMED else {*order[:3], *order[-3:], board.supervised}
        for fingerprint, name, xi, yi in zip(pair.index, _names(board, pair.index), x, y):
            if fingerprint in named:
                ax.annotate(name, (xi, yi), xytext=(2, 2), textcoords="offset points", fontsize=LABEL_SIZE)
        r = rho.get(task)
        ax.set_title(task + ("" if r is None or pd.isna(r) else f" (ρ={r:.2f})"), fontsize=9)
        ax.set_ylabel(axis_label(metric), fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    fig.supxlabel(f"ImageNet {axis_label(imagenet)}")
    fig.suptitle("task score against ImageNet top-1, one point per encoder (ρ: Spearman)", fontsize=10)
    _legend_of_categories(fig, board, list(dict.fromkeys(board.task_category[t] for t in tasks)))
    # fixed margins, not tight_layout: measuring hundreds of point labels would cost a second full draw
    fig.subplots_adjust(
        left=0.06,
        right=0.88,
        bottom=0.8 / fig.get_figheight(),
        top=1 - 0.6 / fig.get_figheight(),
        hspace=0.45,
        wspace=0.35,
    )
    return fig


def moco_swav_plot(board: Leaderboard, table: pd.DataFrame) -> Figure:
    """Figure 4: per task, mean normalized score of the 200-epoch MoCo v2 encoders minus SwAV's; bars
    above 0 (MoCo v2 ahead) and below (SwAV ahead) in the two ends of a diverging pair of colours."""
    table = table.dropna(subset=["normalized_difference"])
    fig = Figure(figsize=(0.5 * len(table) + 3.5, 4.2))
    ax = fig.subplots()
    values = table["normalized_difference"].to_numpy()
    colours = np.where(values >= 0, "#2166ac", "#b2182b")
    ax.bar(range(len(table)), values, color=colours)
    ax.set_xticks(range(len(table)), list(table["task"]), rotation=45, ha="right", fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("MoCo v2 − SwAV (normalized score)")
    ax.set_xlabel("task")
    m, s = int(table["mocov2_n"].iloc[0]), int(table["swav_n"].iloc[0])
    ax.set_title(f"200-epoch encoders: {m} MoCo v2 against {s} SwAV", fontsize=9)
    ax.legend(
        handles=[Patch(color="#2166ac", label="MoCo v2 ahead"), Patch(color="#b2182b", label="SwAV ahead")], fontsize=8
    )
    fig.tight_layout()
    return fig


def category_plot(board: Leaderboard, long: pd.DataFrame) -> Figure:
    """Figure 5: per category, the box of every (encoder, task) normalized score, and beside it each
    encoder's category mean as a named diamond."""
    groups = [c for c in board.categories if (long["category"] == c).any()]
    colours = category_colours(board)
    fig = Figure(figsize=(2.6 * len(groups) + 2.5, 4.8))
    ax = fig.subplots()
    ax.boxplot([long.loc[long["category"] == c, "normalized"].to_numpy() for c in groups], showfliers=False)
    for i, category in enumerate(groups, start=1):
        values = long.loc[long["category"] == category, "normalized"].to_numpy()
        ax.scatter(np.full(len(values), i - 0.15), values, s=6, alpha=0.35, color=colours[category])
        means = board.table.set_index("fingerprint")[category].dropna()
        ax.scatter(np.full(len(means), i + 0.3), means, s=18, marker="D", color=colours[category])
        for name, value in zip(_names(board, means.index), means):
            ax.annotate(
                name, (i + 0.3, value), xytext=(4, 0), textcoords="offset points", fontsize=LABEL_SIZE, va="center"
            )
    ax.set_xticks(range(1, len(groups) + 1), groups)
    ax.set_xlim(0.5, len(groups) + 0.95)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("category")
    ax.set_ylabel("normalized score (0 = supervised reference)")
    ax.legend(
        handles=[
            Patch(facecolor="white", edgecolor="black", label="box: every encoder x task"),
            ax.scatter([], [], marker="D", color="grey", label="an encoder's category mean"),
        ],
        fontsize=8,
        loc="lower left",
    )
    fig.tight_layout()
    return fig


def similarity_plot(table: pd.DataFrame) -> Figure:
    """Figure 6: per task with both groups, the mean normalized score of encoders pre-trained on data of
    the task's domain against the others (group sizes in the tick labels)."""
    fig = Figure(figsize=(0.7 * len(table) + 3.5, 4.5))
    ax = fig.subplots()
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["similar_mean"], width=0.4, label="pre-trained on the task's domain", color="#1b7837")
    ax.bar(x + 0.2, table["dissimilar_mean"], width=0.4, label="pre-trained on another domain", color="#999999")
    ticks = [
        f"{t} ({d}; {s} vs {o})"
        for t, d, s, o in zip(table["task"], table["domain"], table["similar_n"], table["dissimilar_n"])
    ]
    ax.set_xticks(x, ticks, rotation=45, ha="right", fontsize=7)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("task (its domain; encoders similar vs dissimilar)")
    ax.set_ylabel("mean normalized score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def correlation_matrix(board: Leaderboard, matrix: pd.DataFrame, method: str) -> Figure:
    """Figures 13 and 14: the task-by-task matrix (first column `task`) on a diverging scale centred at 0,
    cells annotated up to ANNOTATED tasks, tick labels coloured by category."""
    frame = matrix.set_index("task")
    values = frame.to_numpy(dtype=float)
    size = len(frame)
    fig = Figure(figsize=(0.42 * size + 3.5, 0.42 * size + 2.5))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(vcenter=0.0, vmin=-1.0, vmax=1.0))
    for (i, j), value in np.ndenumerate(values if size <= ANNOTATED else np.empty((0, 0))):
        text = MISSING if np.isnan(value) else f"{value:.2f}"
        ink = "white" if not np.isnan(value) and abs(value) > 0.6 else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=ink)
    ax.set_xticks(range(size), list(frame.columns), rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(size), list(frame.index), fontsize=7)
    colours = category_colours(board)
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_color(colours.get(board.task_category.get(label.get_text(), ""), "black"))
    symbol = "r" if method == "pearson" else "ρ"
    fig.colorbar(image, ax=ax, fraction=0.046, label=f"{method.capitalize()} {symbol} across encoders")
    ax.set_title(f"task-by-task {method.capitalize()} correlation (tick colour = category)", fontsize=9)
    _legend_of_categories(fig, board, list(dict.fromkeys(board.task_category[t] for t in frame.index)))
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    return fig


def cka_heatmap(run: CkaRun) -> Figure:
    """Figure 7: blocks of A down, blocks of B across, each cell annotated (undefined ones as '—');
    CKA lies in [0, 1], so a sequential scale."""
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
    ax.set_xlabel(f"{b} ({fb[:8]}) block")
    ax.set_ylabel(f"{a} ({fa[:8]}) block")
    ax.set_title(f"linear CKA, {run.task} {run.split}, {run.n} images at {run.image_size} px", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, label="linear CKA")
    fig.tight_layout()
    return fig


def uncertainty_plot(table: pd.DataFrame) -> Figure:
    """Item 8 (no paper figure): per task, the relative seed std (against the paper's 0.85%) and the share
    of adjacent encoders that are not separable or unknown."""
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
    bottom.set_xlabel("task")
    bottom.set_xticks(x, list(table["task"]), rotation=45, ha="right")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return fig
