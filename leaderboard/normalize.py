"""docs/PROTOCOL.md section 6 item 4: a task's score minus the supervised encoder's, over the task's standard
deviation across encoders, so tasks of different metrics can be averaged within a category.

Without a supervised reference (no supervised encoder, or it lacks the task) the task is z-scored
across encoders instead (reference = the mean over encoders); each task's choice is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from leaderboard.errors import LeaderboardError

SUPERVISED_METHODS = ("supervised",)


@dataclass
class Normalized:
    """Normalized scores (encoders x tasks, higher is better) and how each task was normalized."""

    values: pd.DataFrame
    reference: dict[str, str] = field(default_factory=dict)  # task -> "supervised" | "z-score" | "none: why"


def find_supervised(encoders: pd.DataFrame, choice: str | None = None) -> tuple[str | None, str]:
    """The supervised reference's fingerprint and a sentence saying how it was chosen.

    `choice` (a name or a fingerprint prefix) wins; else the encoder whose method is 'supervised',
    preferring one pre-trained on ImageNet, then the first by name.
    """
    if choice:
        hits = encoders[(encoders["name"] == choice) | encoders["fingerprint"].str.startswith(choice)]
        if len(hits) != 1:
            raise LeaderboardError(
                f"supervised encoder {choice!r} matches {len(hits)} encoders; "
                "give its name or a longer fingerprint prefix"
            )
        return str(hits["fingerprint"].iloc[0]), f"supervised reference: {hits['name'].iloc[0]} (chosen)"
    method = encoders["method"].fillna("").astype(str).str.strip().str.lower()
    hits = encoders[method.isin(SUPERVISED_METHODS)]
    if hits.empty:
        return None, (
            "no supervised encoder (method 'supervised'): every task is z-scored across "
            "encoders instead (score minus the mean over encoders, over their standard deviation)"
        )
    data = hits["pretrain_data"].fillna("").astype(str).str.lower()
    preferred = hits[data.str.startswith("imagenet")]
    pick = (preferred if not preferred.empty else hits).sort_values("name").iloc[0]
    extra = f" (of {len(hits)} supervised encoders)" if len(hits) > 1 else ""
    return str(pick["fingerprint"]), f"supervised reference: {pick['name']}{extra}"


def normalize(scores: pd.DataFrame, higher_is_better: dict[str, bool], supervised: str | None) -> Normalized:
    """`scores`: encoders (fingerprint index) x tasks, task means over seeds; NaN where not scored."""
    values = pd.DataFrame(index=scores.index, columns=scores.columns, dtype=float)
    reference: dict[str, str] = {}
    for task in scores.columns:
        column = scores[task].dropna()
        spread = column.std(ddof=1) if len(column) > 1 else float("nan")
        if len(column) < 2 or not spread > 0:
            reference[task] = (
                "none: fewer than 2 encoders scored it" if len(column) < 2 else "none: every encoder has the same score"
            )
            continue
        if supervised is not None and supervised in column.index:
            ref, reference[task] = column[supervised], "supervised"
        else:
            ref, reference[task] = column.mean(), "z-score"
        sign = 1.0 if higher_is_better.get(task, True) else -1.0
        values[task] = sign * (scores[task] - ref) / spread
    return Normalized(values=values, reference=reference)
