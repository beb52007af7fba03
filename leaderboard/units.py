"""How each metric reads on the page: fractions (top-1, mIoU, 1 - Fl-all) in percent, an error the score
negates (negative L1) as the error itself in its dataset's unit with 'lower is better', and the direction
in every header ('↑ top-1 %', '↓ L1'), so no column is a bare fraction of unknown meaning."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Metric:
    """A metric as shown: `short` heads a column, `long` is its title (tooltip and legend)."""

    short: str
    long: str
    percent: bool = False  # a fraction, shown x 100
    negated: bool = False  # the score is minus an error, shown as the error (lower is better)


METRICS = {
    "top1": Metric("top-1 %", "top-1 accuracy: percent of test samples whose highest-scoring class is right", True),
    "miou": Metric("mIoU %", "mean intersection over union of the classes, in percent", True),
    "kitti_fl": Metric(
        "1−Fl-all %", "percent of valid pixels that are not KITTI flow outliers (error over 3 px and 5%)", True
    ),
    "neg_l1": Metric(
        "L1 (depth unit)",
        "mean absolute depth error in the dataset's own unit (metres for NYU and Taskonomy, the renderer's "
        "0-1 range for THOR), not a percent; the score ranks it negated",
        negated=True,
    ),
}


def metric_of(name: object) -> Metric:
    """The display of a metric id; one no table lists reads as its raw value under its own name."""
    return METRICS.get(str(name), Metric(str(name), f"{name}, as the result files record it"))


def header(metric: Metric, higher_is_better: bool) -> tuple[str, str]:
    """(short header with its direction arrow, full title) of a task column."""
    lower = metric.negated == higher_is_better
    arrow, word = ("↓", "lower") if lower else ("↑", "higher")
    return f"{arrow} {metric.short}", f"{metric.long}; {word} is better"


def shown(metric: Metric, value: float | pd.Series) -> float | pd.Series:
    """A score (or its spread, which the sign does not change) in the unit the page shows; figure axes
    show scores so too, oriented as the analyses orient them (negated errors stay negative)."""
    return 100 * value if metric.percent else value


def shown_score(metric: Metric, score: float) -> float:
    """A score as the page shows it: percent for fractions, the positive error for a negated one."""
    return -score if metric.negated else shown(metric, score)


def text(metric: Metric, value: float) -> str:
    """A shown value: one decimal in percent, four significant places for anything else."""
    return f"{value:.1f}" if metric.percent else f"{value:.4g}"


def axis_label(metric: Metric) -> str:
    """A figure axis of scores as the analyses orient them (higher is better, negated errors negative)."""
    if metric.negated:
        return f"−{metric.short} (higher is better)"
    return metric.short
