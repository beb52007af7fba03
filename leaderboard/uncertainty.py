"""Which adjacent encoders the scores cannot tell apart: the leaderboard's '≈' marks
(docs/PROTOCOL.md section 6 item 8).

One rule everywhere, chosen because every result carries a bootstrap interval over its test samples while
most carry a single seed: on a task, two encoders are not separable when their 95% intervals overlap.
An (encoder, task)'s interval is its result's ci95; with several seeds, the mean of the seeds' bounds, so it
sits around the mean score the table shows. Without an interval the pair is 'unknown', never separable.

Adjacent pairs: in a task column, each encoder against the next lower score on that task; in the overall
rank order, each encoder against the next-ranked one, separable when it is separably better on more of
their shared tasks than the other is (unknown when no shared task has both intervals).
"""

from __future__ import annotations

import pandas as pd

TIE, SEPARABLE, UNKNOWN = "not separable", "separable", "unknown"
MARKS = {TIE: "≈", UNKNOWN: "?", SEPARABLE: ""}
RULE = (
    "'≈' = not separable from the next lower score in that column (95% intervals overlap; for the overall "
    "column, not separably better on more shared tasks than the next-ranked encoder), '?' = unknown "
    "(an interval is missing); '±' = standard deviation over seeds"
)


def compare(low: pd.DataFrame, high: pd.DataFrame, a: str, b: str, task: str) -> str:
    """TIE, SEPARABLE or UNKNOWN for encoders `a` and `b` (fingerprints) on `task`."""
    bounds = [low.at[a, task], high.at[a, task], low.at[b, task], high.at[b, task]]
    if any(pd.isna(v) for v in bounds):
        return UNKNOWN
    low_a, high_a, low_b, high_b = bounds
    return TIE if low_a <= high_b and low_b <= high_a else SEPARABLE


def task_vs_next(scores: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame) -> pd.DataFrame:
    """Encoders x tasks: each scored encoder against the next lower score on the task (None for the lowest)."""
    out = pd.DataFrame(index=scores.index, columns=scores.columns, dtype=object)
    for task in scores.columns:
        order = scores[task].dropna().sort_values(ascending=False, kind="stable").index
        for a, b in zip(order[:-1], order[1:]):
            out.at[a, task] = compare(low, high, a, b, task)
    return out


def overall_vs_next(order: list[str], scores: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame) -> pd.Series:
    """Each encoder of the rank `order` (fingerprints, best first) against the next-ranked one."""
    out = pd.Series(None, index=scores.index, dtype=object)
    for a, b in zip(order[:-1], order[1:]):
        shared = [t for t in scores.columns if pd.notna(scores.at[a, t]) and pd.notna(scores.at[b, t])]
        known = [t for t in shared if compare(low, high, a, b, t) != UNKNOWN]
        apart = [t for t in known if compare(low, high, a, b, t) == SEPARABLE]
        wins = sum(scores.at[a, t] > scores.at[b, t] for t in apart)
        out[a] = UNKNOWN if not known else SEPARABLE if wins > len(apart) - wins else TIE
    return out
