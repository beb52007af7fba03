"""The paper's analyses (PROTOCOL section 6) that need only scores and encoder metadata.

Each returns a DataFrame or a NotAvailable with a short reason, so a leaderboard over a partial set of
encoders or tasks still builds and says what it could not answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from leaderboard.table import Leaderboard
from leaderboard.taxonomy import IMAGENET


@dataclass(frozen=True)
class NotAvailable:
    reason: str

    def __str__(self) -> str:
        return f"not available: {self.reason}"


Analysis = pd.DataFrame | NotAvailable


def supervised_vs_best(board: Leaderboard) -> Analysis:
    """Item 1: per task, the best other (non-random) encoder vs the supervised one, in percent."""
    if board.supervised is None:
        return NotAvailable("no supervised encoder (method 'supervised') among the results")
    fmt = board.encoders["method"].fillna("").astype(str).str.lower()
    others = board.scores.drop(index=board.supervised)
    others = others[~others.index.isin(fmt[fmt.isin(["supervised", "random"])].index)]
    others = others[~others.index.isin(board.encoders[board.encoders["name"].astype(str).str.startswith("random:")].index)]
    rows = []
    for task in board.tasks:
        sup = board.scores.at[board.supervised, task]
        column = others[task].dropna()
        if pd.isna(sup) or column.empty:
            continue
        best = column.idxmax()
        rows.append({"task": task, "supervised": sup, "best": board.encoders.at[best, "name"],
                     "best_score": column[best], "improvement_%": 100 * (column[best] - sup) / abs(sup) if sup else float("nan")})
    if not rows:
        return NotAvailable("no task scored by both the supervised encoder and another encoder")
    return pd.DataFrame(rows)


def imagenet_correlation(board: Leaderboard) -> Analysis:
    """Item 2: each task's Pearson and Spearman correlation with ImageNet top-1 across encoders."""
    if IMAGENET not in board.scores.columns:
        return NotAvailable("imagenet is not scored")
    rows = []
    for task in board.tasks:
        if task == IMAGENET:
            continue
        pair = board.scores[[IMAGENET, task]].dropna()
        if len(pair) < 3 or pair.nunique().min() < 2:
            continue
        rows.append({"task": task, "n": len(pair), "pearson": stats.pearsonr(pair[IMAGENET], pair[task])[0],
                     "spearman": stats.spearmanr(pair[IMAGENET], pair[task])[0]})
    if not rows:
        return NotAvailable("no other task shares 3 or more encoders with imagenet")
    return pd.DataFrame(rows)


def moco_vs_swav(board: Leaderboard) -> Analysis:
    """Item 3: per task, mean MoCo v2 minus mean SwAV over their 200-epoch encoders."""
    meta = board.encoders
    method = meta["method"].fillna("").astype(str).str.lower().str.replace(r"[\s_-]", "", regex=True)
    epochs = pd.to_numeric(meta["pretrain_epochs"], errors="coerce")
    moco, swav = meta.index[(method == "mocov2") & (epochs == 200)], meta.index[(method == "swav") & (epochs == 200)]
    if len(moco) == 0 or len(swav) == 0:
        return NotAvailable("needs 200-epoch encoders of method 'MoCo v2' and 'SwAV'")
    diff = board.scores.loc[moco].mean() - board.scores.loc[swav].mean()
    diff = diff.dropna()
    if diff.empty:
        return NotAvailable("no task scored by both MoCo v2 and SwAV 200-epoch encoders")
    return pd.DataFrame({"task": diff.index, "mocov2_minus_swav": diff.values})


def category_distribution(board: Leaderboard) -> Analysis:
    """Item 4: the normalized scores of every (encoder, task) with its category, for the box plot."""
    long = board.normalized.values.stack().rename("normalized").reset_index()
    if long.empty:
        return NotAvailable("no task has scores from 2 or more encoders with a spread")
    long.columns = ["fingerprint", "task", "normalized"]
    long["category"] = long["task"].map(board.task_category)
    return long


NOT_COVERED = {
    "5. pre-training data similarity": "needs a task-to-pretraining-data similarity map; not implemented",
    "6. balanced vs unbalanced ANOVA": "not implemented in the leaderboard yet",
    "7. linear CKA": "needs features, not result files",
    "8. seed variance": "not implemented in the leaderboard yet",
}


def run_all(board: Leaderboard) -> dict[str, Analysis]:
    """Every analysis by title, in the protocol's order."""
    out: dict[str, Analysis] = {
        "1. best encoder vs supervised (percent)": supervised_vs_best(board),
        "2. correlation with ImageNet top-1": imagenet_correlation(board),
        "3. MoCo v2 vs SwAV (200 epochs)": moco_vs_swav(board),
        "4. normalized scores per category": category_distribution(board),
    }
    out.update({title: NotAvailable(reason) for title, reason in NOT_COVERED.items()})
    return out
