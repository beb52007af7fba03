"""The paper's analyses (docs/PROTOCOL.md section 6): from scores and encoder metadata, and item 7
(linear CKA) from the matrices `ccbench cka` wrote.

Each returns a DataFrame or a NotAvailable with a short reason, so a leaderboard over a partial set of
encoders or tasks still builds and says what it could not answer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from leaderboard.cka import CkaRun
from leaderboard.table import Leaderboard
from leaderboard.taxonomy import IMAGENET
from leaderboard.uncertainty import TIE, UNKNOWN, task_vs_next


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
    others = others[
        ~others.index.isin(board.encoders[board.encoders["name"].astype(str).str.startswith("random:")].index)
    ]
    rows = []
    for task in board.tasks:
        sup = board.scores.at[board.supervised, task]
        column = others[task].dropna()
        if pd.isna(sup) or column.empty:
            continue
        best = column.idxmax()
        rows.append(
            {
                "task": task,
                "supervised": sup,
                "best": board.encoders.at[best, "name"],
                "best_score": column[best],
                "improvement_%": 100 * (column[best] - sup) / abs(sup) if sup else float("nan"),
            }
        )
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
        rows.append(
            {
                "task": task,
                "n": len(pair),
                "pearson": stats.pearsonr(pair[IMAGENET], pair[task])[0],
                "spearman": stats.spearmanr(pair[IMAGENET], pair[task])[0],
            }
        )
    if not rows:
        return NotAvailable("no other task shares 3 or more encoders with imagenet")
    return pd.DataFrame(rows)


def task_correlations(board: Leaderboard, method: str) -> Analysis:
    """Item 2 (figures 13, 14): the task-by-task correlation matrix across encoders, `method` 'pearson'
    or 'spearman' (pandas corr, pairwise over the encoders that scored both tasks, at least 3). The
    first column, `task`, names the row; a pair with under 3 shared encoders or no spread is NaN."""
    scores = board.scores.dropna(axis=1, thresh=3)
    scores = scores.loc[:, scores.nunique() >= 2]
    if scores.shape[1] < 2:
        return NotAvailable("needs 2 or more tasks scored by 3 or more encoders with a spread")
    matrix = scores.corr(method=method, min_periods=3)
    matrix.index.name, matrix.columns.name = "task", None
    return matrix.reset_index()


# Item 6. The unbalanced ImageNet subsets of the paper; every other ImageNet-family pretrain_data
# (ImageNet, ImageNet-1/2, ImageNet-1/4, ...) counts as balanced.
UNBALANCED = frozenset({"imagenet-1/2-lin", "imagenet-1/4-log"})
ANOVA_FACTORS = ("task", "method", "balance", "pretrain_images", "pretrain_epochs")


def balance_of(pretrain_data: object) -> str | None:
    """'unbalanced' / 'balanced' for an ImageNet-family pretrain_data (its name starts with 'ImageNet',
    any case), None for anything else (e.g. Places, Kinetics), which the ANOVA leaves out."""
    text = str(pretrain_data or "").strip().lower()
    if not text.startswith("imagenet"):
        return None
    return "unbalanced" if text in UNBALANCED else "balanced"


def anova_data(board: Leaderboard) -> pd.DataFrame:
    """One row per (ImageNet-family encoder, task) with its score and the five factors as strings."""
    meta = board.encoders.copy()
    meta["balance"] = meta["pretrain_data"].map(balance_of)
    meta = meta[meta["balance"].notna()]
    long = board.scores.loc[meta.index].stack().rename("score").reset_index()
    long.columns = ["fingerprint", "task", "score"]
    for factor in ANOVA_FACTORS[1:]:
        long[factor] = long["fingerprint"].map(meta[factor]).astype(str)
    return long.dropna(subset=["score"])


def factorial_anova(board: Leaderboard) -> Analysis:
    """Item 6: balanced vs unbalanced ImageNet subsets, a factorial ANOVA of the per-(encoder, task) scores
    over task, algorithm (method), balance, dataset size (pretrain_images) and training steps
    (pretrain_epochs), type II sums of squares; one row per factor with its F and p.

    Only ImageNet-family encoders (pretrain_data starting with 'ImageNet') enter; balance comes from
    pretrain_data ('ImageNet-1/2-Lin' and 'ImageNet-1/4-Log' unbalanced, other ImageNet subsets balanced).
    A factor with a single level among them is left out (its row says so); balance must have both levels.
    Test used (column `test`): pingouin.anova(between=factors, ss_type=2), the full factorial with every
    interaction, when every combination of levels is observed and there are residual degrees of freedom;
    otherwise (the usual case: one encoder per configuration, so no replicates) an OLS main-effects model,
    statsmodels anova_lm(typ=2) of score ~ C(task) + C(method) + ..., since pingouin's n-way ANOVA always
    fits all interactions and cannot estimate them there."""
    data = anova_data(board)
    if data.empty:
        return NotAvailable("no scored ImageNet-family encoder (pretrain_data starting with 'ImageNet')")
    if data["balance"].nunique() < 2:
        return NotAvailable(
            "needs both balanced and unbalanced ImageNet subsets "
            "(pretrain_data 'ImageNet-1/2-Lin' or 'ImageNet-1/4-Log' and another ImageNet)"
        )
    factors = [f for f in ANOVA_FACTORS if data[f].nunique() >= 2]
    single = [f for f in ANOVA_FACTORS if f not in factors]
    cells = np.prod([data[f].nunique() for f in factors])
    full = data.groupby(factors).ngroups == cells and len(data) > cells
    if full:
        import pingouin

        with warnings.catch_warnings():  # pingouin's own pandas deprecation (dropna inplace), not ours
            warnings.filterwarnings("ignore", message=".*inplace keyword.*")
            table = pingouin.anova(data=data, dv="score", between=factors, ss_type=2)
        table = table[table["Source"].isin(factors)].set_index("Source")
        rows = [
            {
                "factor": f,
                "df": float(table.at[f, "DF"]),
                "F": float(table.at[f, "F"]),
                "p": float(table.at[f, "p_unc"]),
                "test": "pingouin n-way (full factorial, type II)",
            }
            for f in factors
        ]
    else:
        table = ols_anova(data, factors, interactions=False)
        rows = [
            {
                "factor": f,
                "df": float(table.at[f, "df"]),
                "F": float(table.at[f, "F"]),
                "p": float(table.at[f, "PR(>F)"]),
                "test": "OLS main effects (statsmodels, type II)",
            }
            for f in factors
        ]
    if not np.isfinite(table.loc[factors, "F"].astype(float)).any():
        return NotAvailable(
            f"{len(data)} (encoder, task) scores leave no residual degrees of freedom for {len(factors)} factors"
        )
    rows += [
        {"factor": f, "df": float("nan"), "F": float("nan"), "p": float("nan"), "test": "left out: a single level"}
        for f in single
    ]
    return pd.DataFrame(rows)


def ols_anova(data: pd.DataFrame, factors: list[str], interactions: bool, typ: int = 2) -> pd.DataFrame:
    """statsmodels anova_lm of score ~ the categorical factors (all interactions or main effects only),
    sum-to-zero coding as pingouin uses, indexed by factor name ('a * b' for an interaction)."""
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    terms = {f"C(f{i}, Sum)": f for i, f in enumerate(factors)}
    model = pd.DataFrame(
        {"score": data["score"].to_numpy()} | {f"f{i}": data[f].to_numpy() for i, f in enumerate(factors)}
    )
    formula = "score ~ " + (" * " if interactions else " + ").join(terms)
    table = anova_lm(ols(formula, data=model).fit(), typ=typ)
    table.index = [" * ".join(terms.get(t, t) for t in str(name).split(":")) for name in table.index]
    return table


def moco_vs_swav(board: Leaderboard) -> Analysis:
    """Item 3: per task, mean MoCo v2 minus mean SwAV over their 200-epoch encoders, in the task's score
    and in normalized score (comparable across tasks: the figure's bars)."""
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
    normalized = board.normalized.values.loc[moco].mean() - board.normalized.values.loc[swav].mean()
    return pd.DataFrame(
        {
            "task": diff.index,
            "mocov2_minus_swav": diff.values,
            "normalized_difference": normalized.reindex(diff.index).values,
            "mocov2_n": len(moco),
            "swav_n": len(swav),
        }
    )


def category_distribution(board: Leaderboard) -> Analysis:
    """Item 4: the normalized scores of every (encoder, task) with its category, for the box plot."""
    long = board.normalized.values.stack().rename("normalized").reset_index()
    if long.empty:
        return NotAvailable("no task has scores from 2 or more encoders with a spread")
    long.columns = ["fingerprint", "task", "normalized"]
    long["category"] = long["task"].map(board.task_category)
    return long


def data_similarity(board: Leaderboard) -> Analysis:
    """Item 5: per task, the mean normalized score of encoders pre-trained on data of the task's domain
    against those pre-trained on another battery task's domain, domains as the result files record them
    (battery listings, encoder.pretrain_domain). Data like no task's images (Combination's mixed data) and
    data of unknown domain (a random init, files written before pretrain_domain) are in neither group; a
    task lacking a group says why."""
    known = {domain for domains in board.taxonomy.domains.values() for domain in domains}
    if not known:
        return NotAvailable(
            "no result file lists its battery's image domains (all were written before results "
            "did); rescore a task with this ccbench"
        )
    domains = board.encoders["pretrain_domain"]
    domains = domains[domains.isin(known)]
    if domains.empty:
        return NotAvailable(
            "no encoder's pretrain_data has a known domain of a battery task (encoder.pretrain_domain: "
            "null for a random init or unknown data, absent in files written before it)"
        )
    rows = []
    for task in board.tasks:
        wanted = board.taxonomy.domains.get(task, ())
        values = board.normalized.values[task].reindex(domains.index).dropna()
        similar = values[domains[values.index].isin(wanted)]
        other = values.drop(index=similar.index)
        if not wanted:
            note = "task domain unknown: no result file's battery lists it"
        elif values.empty:
            note = "no normalized scores"
        elif similar.empty:
            note = f"no encoder pre-trained on {' or '.join(wanted)} data"
        elif other.empty:
            note = "no encoder pre-trained on dissimilar data"
        else:
            note = ""
        rows.append(
            {
                "task": task,
                "domain": "/".join(wanted) or "?",
                "similar_n": len(similar),
                "similar_mean": similar.mean(),
                "dissimilar_n": len(other),
                "dissimilar_mean": other.mean(),
                "difference": similar.mean() - other.mean(),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def seed_variance(board: Leaderboard) -> Analysis:
    """Item 8: per task, the spread over seeds (relative std in percent, the paper found under 0.85% on
    average), the 95% interval width and how many adjacent encoders (by score) are not separable."""
    std, low, high = (frame.reindex_like(board.scores) for frame in (board.std, board.low, board.high))
    if std.isna().all().all() and low.isna().all().all():
        return NotAvailable("no result has several seeds or a ci95 interval")
    relative = 100 * std / board.scores.abs().where(board.scores != 0)
    vs_next = task_vs_next(board.scores, low, high, board.paired)
    rows = [
        {
            "task": task,
            "encoders": int(board.scores[task].notna().sum()),
            "multi_seed": int(std[task].notna().sum()),
            "relative_std_%": relative[task].mean(),
            "with_interval": int(low[task].notna().sum()),
            "ci95_width": (high[task] - low[task]).mean(),
            "adjacent_pairs": int(vs_next[task].notna().sum()),
            "not_separable": int((vs_next[task] == TIE).sum()),
            "unknown": int((vs_next[task] == UNKNOWN).sum()),
        }
        for task in board.tasks
    ]
    return pd.DataFrame(rows)


NO_CKA = "no CKA runs yet: run `ccbench cka --encoders A B`"


def cka_matrices(runs: list[CkaRun]) -> dict[str, Analysis]:
    """Item 7: one block-by-block matrix per `ccbench cka` file (they need features, so come from that
    command, not from result files)."""
    if not runs:
        return {"7. linear CKA": NotAvailable(NO_CKA)}
    return {run.title: run.frame() for run in runs}


def run_all(board: Leaderboard, cka: list[CkaRun]) -> dict[str, Analysis]:
    """Every analysis by title, in the protocol's order."""
    out: dict[str, Analysis] = {
        "1. best encoder vs supervised (percent)": supervised_vs_best(board),
        "2. correlation with ImageNet top-1": imagenet_correlation(board),
        "2. task-by-task Pearson correlation": task_correlations(board, "pearson"),
        "2. task-by-task Spearman correlation": task_correlations(board, "spearman"),
        "3. MoCo v2 vs SwAV (200 epochs)": moco_vs_swav(board),
        "4. normalized scores per category": category_distribution(board),
        "5. similar vs dissimilar pre-training data (normalized)": data_similarity(board),
        "8. seed variance and separability": seed_variance(board),
    }
    out.update(cka_matrices(cka))
    out["6. balanced vs unbalanced ANOVA"] = factorial_anova(board)
    return dict(sorted(out.items(), key=lambda item: int(item[0].split(".")[0])))
