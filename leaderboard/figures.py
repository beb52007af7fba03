"""The page's figures: the paper's 3 to 7, 13 and 14 (docs/PROTOCOL.md section 6 items 2 to 5 and 7),
plus the seed-variance figure of item 8, each with what it shows and a one-line reading computed from
the data, and a note where too few encoders make it say little.

The paper's numbering, as this project maps it: 3 = task scores against ImageNet top-1 (item 2),
4 = MoCo v2 against SwAV (item 3), 5 = normalized scores per category (item 4), 6 = similar against
dissimilar pre-training data (item 5), 7 = linear CKA between blocks (item 7), 13 and 14 = the
task-by-task Pearson and Spearman matrices (item 2). Item 6 (the ANOVA) is a table, not a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leaderboard import plots
from leaderboard.analyses import Analysis, NotAvailable
from leaderboard.cka import CkaRun
from leaderboard.table import Leaderboard

FEW = 5
"""Below this many encoders a correlation or a group mean is drawn with a note that it says little."""


@dataclass(frozen=True)
class Plot:
    """One figure of the page: PNG bytes (or why it is not drawn), what it shows and what it says."""

    stem: str
    number: str  # the paper's figure number, "" for one the paper does not draw
    title: str
    caption: str
    png: bytes | NotAvailable
    reading: str = ""
    note: str = ""
    figure: Figure | None = None  # the drawn figure, for tests to read its labels


def _few(count: int, what: str) -> str:
    return (
        f"Only {count} encoders {what}: with fewer than {FEW} the figure says little and its reading may "
        "turn with one more encoder."
        if count < FEW
        else ""
    )


def _sentence(text: str) -> str:
    """`text` with a capital first letter and a full stop (names inside keep their case)."""
    return text[:1].upper() + text[1:] + "."


def _mean_by_category(board: Leaderboard, values: pd.Series) -> list[tuple[str, float, int]]:
    """(category, mean, count) of per-task values, in the board's category order."""
    groups = values.groupby(values.index.map(board.task_category))
    order = [c for c in dict.fromkeys(board.task_category.values()) if c in groups.groups]
    return [(c, float(groups.get_group(c).mean()), len(groups.get_group(c))) for c in order]


def imagenet_reading(board: Leaderboard, correlation: pd.DataFrame) -> str:
    rho = correlation.set_index("task")["spearman"].dropna()
    if rho.empty:
        return "No task's rank correlation with ImageNet is defined."
    means = _mean_by_category(board, rho)
    parts = [f"{c} tasks at ρ={m:.2f}" + (f" (mean of {n})" if n > 1 else "") for c, m, n in means]
    best, worst = rho.idxmax(), rho.idxmin()
    return (
        f"ImageNet top-1 correlates (Spearman) with {', '.join(parts)}; most with {best} (ρ={rho[best]:.2f}), "
        f"least with {worst} (ρ={rho[worst]:.2f})."
    )


def fig3(board: Leaderboard, analyses: dict[str, Analysis]) -> Plot:
    title = "Task scores against ImageNet top-1"
    caption = (
        "One panel per task, one named point per encoder; a task whose ranking follows ImageNet's has "
        "a high rank correlation ρ."
    )
    correlation = analyses["2. correlation with ImageNet top-1"]
    if isinstance(correlation, NotAvailable):
        return Plot("imagenet_scatter", "3", title, caption, correlation)
    rho = correlation.set_index("task")["spearman"].to_dict()
    figure = plots.imagenet_scatter(board, rho)
    return Plot(
        "imagenet_scatter",
        "3",
        title,
        caption,
        plots.png(figure),
        imagenet_reading(board, correlation),
        _few(int(correlation["n"].max()), "scored ImageNet and another task"),
        figure,
    )


def fig4(board: Leaderboard, analyses: dict[str, Analysis]) -> Plot:
    title = "MoCo v2 against SwAV"
    caption = (
        "Per task, the mean normalized score of the 200-epoch MoCo v2 encoders minus that of the "
        "200-epoch SwAV encoders; above 0 MoCo v2 is ahead."
    )
    table = analyses["3. MoCo v2 vs SwAV (200 epochs)"]
    if isinstance(table, NotAvailable):
        return Plot("mocov2_vs_swav", "4", title, caption, table)
    table = table.dropna(subset=["normalized_difference"])
    if table.empty:
        return Plot("mocov2_vs_swav", "4", title, caption, NotAvailable("no task has normalized scores"))
    diff = table.set_index("task")["normalized_difference"]
    ahead, behind = diff[diff > 0], diff[diff < 0]
    parts = [f"MoCo v2 is ahead on {len(ahead)} of {len(diff)} tasks"]
    if len(ahead):
        parts.append(f"most on {ahead.idxmax()} ({ahead.max():+.2f})")
    if len(behind):
        parts.append(f"SwAV most on {behind.idxmin()} ({behind.min():+.2f})")
    figure = plots.moco_swav_plot(board, table)
    count = int(min(table["mocov2_n"].iloc[0], table["swav_n"].iloc[0]))
    note = "" if count > 1 else "One encoder per method: the difference is two encoders', not two methods'."
    return Plot("mocov2_vs_swav", "4", title, caption, plots.png(figure), "; ".join(parts) + ".", note, figure)


def fig5(board: Leaderboard, analyses: dict[str, Analysis]) -> Plot:
    title = "Normalized scores per category"
    caption = (
        "Every encoder's normalized score on every task (0 = the supervised reference), boxed by "
        "category, beside each encoder's category mean."
    )
    long = analyses["4. normalized scores per category"]
    if isinstance(long, NotAvailable):
        return Plot("category_distribution", "5", title, caption, long)
    long = long.dropna(subset=["normalized"])
    medians = long.groupby("category")["normalized"].median()
    order = [c for c in board.categories if c in medians.index]
    if not order:
        reason = NotAvailable("no category mean: no task has scores from 2 or more encoders with a spread")
        return Plot("category_distribution", "5", title, caption, reason)
    top, bottom = max(order, key=medians.get), min(order, key=medians.get)
    reading = "Median normalized score: " + ", ".join(f"{c} {medians[c]:+.2f}" for c in order)
    reading += f"; highest on {top}, lowest on {bottom}." if len(order) > 1 else "."
    reference = "a supervised reference" if board.supervised else "z-scores across encoders (no supervised encoder)"
    note = _few(int(long["fingerprint"].nunique()), "have normalized scores")
    figure = plots.category_plot(board, long)
    return Plot(
        "category_distribution",
        "5",
        title,
        f"{caption} Normalized against {reference}.",
        plots.png(figure),
        reading,
        note,
        figure,
    )


def fig6(board: Leaderboard, analyses: dict[str, Analysis]) -> Plot:
    title = "Similar against dissimilar pre-training data"
    caption = (
        "Per task, the mean normalized score of encoders pre-trained on images of the task's domain "
        "against those pre-trained on another task's domain."
    )
    table = analyses["5. similar vs dissimilar pre-training data (normalized)"]
    if isinstance(table, NotAvailable):
        return Plot("data_similarity", "6", title, caption, table)
    table = table[(table["similar_n"] > 0) & (table["dissimilar_n"] > 0)]
    if table.empty:
        reason = NotAvailable("no task has encoders pre-trained on both similar and dissimilar data")
        return Plot("data_similarity", "6", title, caption, reason)
    gain = table["difference"]
    reading = (
        f"Pre-training on the task's own domain scores higher on {int((gain > 0).sum())} of {len(table)} tasks "
        f"(mean difference {gain.mean():+.2f} normalized)."
    )
    note = _few(int((table["similar_n"] + table["dissimilar_n"]).max()), "fall in the two groups")
    figure = plots.similarity_plot(table)
    return Plot("data_similarity", "6", title, caption, plots.png(figure), reading, note, figure)


def cka_reading(run: CkaRun) -> str:
    diagonal = np.diag(run.matrix)
    known = [(b, v) for b, v in zip(run.blocks, diagonal) if not np.isnan(v)]
    if not known:
        return "CKA is undefined on every pair of matching blocks."
    (first, a), (last, z) = known[0], known[-1]
    return (
        f"Matching blocks of {run.encoders[0]} and {run.encoders[1]}: CKA {a:.2f} at {first}, {z:.2f} at "
        f"{last} (mean {np.mean([v for _, v in known]):.2f})."
    )


def fig7(cka: list[CkaRun]) -> list[Plot]:
    title = "Linear CKA between the blocks of two encoders"
    caption = "Each cell compares a block of one encoder (rows) with a block of the other (columns); 1 = the same up to rotation and scale."
    if not cka:
        return [Plot("cka", "7", title, caption, NotAvailable("no CKA runs yet: run `ccbench cka --encoders A B`"))]
    out = []
    for run in cka:
        figure = plots.cka_heatmap(run)
        note = "" if run.n >= 1000 else f"Only {run.n} images: the protocol uses 10,000."
        out.append(Plot(run.stem, "7", title, caption, plots.png(figure), cka_reading(run), note, figure))
    return out


def matrix_reading(board: Leaderboard, matrix: pd.DataFrame, symbol: str) -> str:
    frame = matrix.set_index("task")
    pairs = frame.where(np.triu(np.ones(frame.shape, dtype=bool), k=1)).stack()
    if pairs.empty:
        return "No pair of tasks shares 3 encoders."
    same = pd.Series([board.task_category[a] == board.task_category[b] for a, b in pairs.index], index=pairs.index)
    parts = []
    if same.any():
        parts.append(f"tasks of one category correlate at {symbol}={pairs[same].mean():.2f} on average")
    if (~same).any():
        parts.append(f"tasks of different categories at {symbol}={pairs[~same].mean():.2f}")
    (a, b), (c, d) = pairs.idxmax(), pairs.idxmin()
    parts.append(f"most alike: {a} and {b} ({pairs.max():.2f}), least: {c} and {d} ({pairs.min():.2f})")
    return _sentence("; ".join(parts))


def fig_matrix(board: Leaderboard, analyses: dict[str, Analysis], method: str) -> Plot:
    number, name = ("13", "Pearson") if method == "pearson" else ("14", "Spearman")
    symbol = "r" if method == "pearson" else "ρ"
    title = f"Task-by-task {name} correlation"
    caption = (
        f"The {name} correlation of every two tasks' scores across the encoders that scored both "
        "(3 or more); red = rank together, blue = opposite."
    )
    matrix = analyses[f"2. task-by-task {name} correlation"]
    stem = f"{method}_matrix"
    if isinstance(matrix, NotAvailable):
        return Plot(stem, number, title, caption, matrix)
    figure = plots.correlation_matrix(board, matrix, method)
    note = _few(int(board.scores[matrix["task"]].notna().sum().max()), "scored these tasks")
    return Plot(stem, number, title, caption, plots.png(figure), matrix_reading(board, matrix, symbol), note, figure)


def seed_figure(board: Leaderboard, analyses: dict[str, Analysis]) -> Plot:
    title = "Seed variance and separability"
    caption = (
        "Per task, the relative standard deviation over seeds, and the share of encoders not separable "
        "from the next lower score (95% intervals overlap)."
    )
    table = analyses["8. seed variance and separability"]
    if isinstance(table, NotAvailable):
        return Plot("seed_variance", "", title, caption, table)
    relative = table["relative_std_%"].dropna()
    pairs = int(table["adjacent_pairs"].sum())
    spread = (
        f"seeds differ by {relative.mean():.2f}% of the score on average (the paper: under 0.85%)"
        if len(relative)
        else "no task has several seeds"
    )
    reading = (
        f"{_sentence(spread)[:-1]}; {int(table['not_separable'].sum())} of {pairs} adjacent pairs are not separable."
    )
    figure = plots.uncertainty_plot(table)
    return Plot("seed_variance", "", title, caption, plots.png(figure), reading, "", figure)


DRAWN: dict[str, Callable[[Leaderboard, dict[str, Analysis]], Plot]] = {
    "imagenet_scatter": fig3,
    "mocov2_vs_swav": fig4,
    "category_distribution": fig5,
    "data_similarity": fig6,
    "pearson_matrix": partial(fig_matrix, method="pearson"),
    "spearman_matrix": partial(fig_matrix, method="spearman"),
    "seed_variance": seed_figure,
}
"""The figures of every board by file stem; CKA heatmaps add one `cka_<run>` each."""


def all_figures(board: Leaderboard, analyses: dict[str, Analysis], cka: list[CkaRun]) -> list[Plot]:
    """Every figure in the paper's order (3 to 7, then 13 and 14, then item 8's)."""
    drawn = {stem: draw(board, analyses) for stem, draw in DRAWN.items()}
    return [
        *(drawn[s] for s in ("imagenet_scatter", "mocov2_vs_swav", "category_distribution", "data_similarity")),
        *fig7(cka),
        drawn["pearson_matrix"],
        drawn["spearman_matrix"],
        drawn["seed_variance"],
    ]
