"""Which adjacent encoders the scores cannot tell apart: the leaderboard's '≈' marks
(docs/PROTOCOL.md section 6 item 8).

Where both results of a pair keep per-sample predictions (leaderboard.predictions), a paired bootstrap
over their shared test samples decides: each round resamples the shared samples once, scores both
results (the mean over each one's seeds) on that same resample, and the pair is not separable when the
95% interval of the difference holds 0. Pairing removes the variation both share (which samples are
hard), so it separates encoders whose own intervals overlap. Otherwise, as for files written before
predictions were kept, two encoders are not separable when their 95% intervals overlap: an (encoder,
task)'s interval is its result's ci95; with several seeds, the mean of the seeds' bounds, so it sits
around the mean score the table shows. Without either the pair is 'unknown', never separable.
`Paired.basis` says which rule gave each mark.

Adjacent pairs: in a task column, each encoder against the next lower score on that task; in the overall
rank order, each encoder against the next-ranked one, separable when it is separably better on more of
their shared tasks than the other is (unknown when no shared task has an answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leaderboard.bootstrap import paired_difference
from leaderboard.collect import read_result
from leaderboard.errors import LeaderboardError
from leaderboard.locations import location
from leaderboard.predictions import Predictions, read_predictions

TIE, SEPARABLE, UNKNOWN = "not separable", "separable", "unknown"
PAIRED, OVERLAP = "paired bootstrap", "interval overlap"
MARKS = {TIE: "≈", UNKNOWN: "?", SEPARABLE: ""}
RULE = (
    "'≈' = not separable from the next lower score in that column (a paired bootstrap over the shared test "
    "samples where both results keep predictions: the 95% interval of the difference holds 0; else 95% "
    "intervals overlap; for the overall column, not separably better on more shared tasks than the "
    "next-ranked encoder), '?' = unknown (an interval is missing); '±' = standard deviation over seeds"
)


@dataclass
class Paired:
    """Paired bootstrap verdicts from the predictions of each (fingerprint, task)'s selected result file
    (`sources`: its path); files are read once, verdicts computed once; a refused predictions file
    leaves its pairs to interval overlap, with a note."""

    sources: dict[tuple[str, str], str]
    notes: list[str] = field(default_factory=list)
    _loaded: dict[tuple[str, str], Predictions | None] = field(default_factory=dict)
    _verdicts: dict[tuple[str, str, str], str | None] = field(default_factory=dict)

    def _load(self, fingerprint: str, task: str) -> Predictions | None:
        key = (fingerprint, task)
        if key not in self._loaded:
            path = self.sources.get(key)
            self._loaded[key] = None
            if path:
                try:
                    self._loaded[key] = read_predictions(location(path), read_result(location(path)))
                except LeaderboardError as error:
                    self.notes.append(f"{error}; interval overlap used for its pairs")
        return self._loaded[key]

    def verdict(self, a: str, b: str, task: str) -> str | None:
        """TIE or SEPARABLE by the paired bootstrap; None where a side has no predictions or they share
        fewer than two test samples."""
        key = (a, b, task)
        if key not in self._verdicts:
            self._verdicts[key] = self._paired(a, b, task)
        return self._verdicts[key]

    def _paired(self, a: str, b: str, task: str) -> str | None:
        first, second = self._load(a, task), self._load(b, task)
        if first is None or second is None or first.metric != second.metric:
            return None
        _, rows_a, rows_b = np.intersect1d(first.ids, second.ids, assume_unique=True, return_indices=True)
        interval = paired_difference(
            first.metric, [s[rows_a] for s in first.statistics], [s[rows_b] for s in second.statistics]
        )
        if interval is None:
            return None
        return TIE if interval[0] <= 0 <= interval[1] else SEPARABLE

    def basis(self, a: str, b: str, task: str) -> str:
        return PAIRED if self.verdict(a, b, task) is not None else OVERLAP


def compare(low: pd.DataFrame, high: pd.DataFrame, a: str, b: str, task: str, paired: Paired | None = None) -> str:
    """TIE, SEPARABLE or UNKNOWN for encoders `a` and `b` (fingerprints) on `task`."""
    verdict = paired.verdict(a, b, task) if paired is not None else None
    if verdict is not None:
        return verdict
    bounds = [low.at[a, task], high.at[a, task], low.at[b, task], high.at[b, task]]
    if any(pd.isna(v) for v in bounds):
        return UNKNOWN
    low_a, high_a, low_b, high_b = bounds
    return TIE if low_a <= high_b and low_b <= high_a else SEPARABLE


def adjacent(scores: pd.DataFrame, task: str) -> list[tuple[str, str]]:
    """(encoder, the encoder with the next lower score) down a task column."""
    order = scores[task].dropna().sort_values(ascending=False, kind="stable").index
    return list(zip(order[:-1], order[1:]))


def task_vs_next(
    scores: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame, paired: Paired | None = None
) -> pd.DataFrame:
    """Encoders x tasks: each scored encoder against the next lower score on the task (None for the lowest)."""
    out = pd.DataFrame(index=scores.index, columns=scores.columns, dtype=object)
    for task in scores.columns:
        for a, b in adjacent(scores, task):
            out.at[a, task] = compare(low, high, a, b, task, paired)
    return out


def task_basis(scores: pd.DataFrame, paired: Paired | None) -> pd.DataFrame:
    """Encoders x tasks: which rule gave each task_vs_next verdict (PAIRED or OVERLAP)."""
    out = pd.DataFrame(index=scores.index, columns=scores.columns, dtype=object)
    for task in scores.columns:
        for a, b in adjacent(scores, task):
            out.at[a, task] = paired.basis(a, b, task) if paired is not None else OVERLAP
    return out


def overall_vs_next(
    order: list[str], scores: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame, paired: Paired | None = None
) -> pd.Series:
    """Each encoder of the rank `order` (fingerprints, best first) against the next-ranked one."""
    out = pd.Series(None, index=scores.index, dtype=object)
    for a, b in zip(order[:-1], order[1:]):
        shared = [t for t in scores.columns if pd.notna(scores.at[a, t]) and pd.notna(scores.at[b, t])]
        verdicts = {t: compare(low, high, a, b, t, paired) for t in shared}
        known = [t for t in shared if verdicts[t] != UNKNOWN]
        apart = [t for t in known if verdicts[t] == SEPARABLE]
        wins = sum(scores.at[a, t] > scores.at[b, t] for t in apart)
        out[a] = UNKNOWN if not known else SEPARABLE if wins > len(apart) - wins else TIE
    return out
