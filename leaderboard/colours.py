"""Cell colours: one sequential scale, applied per column to the normalized score (docs/PROTOCOL.md §6
item 4, direction-aware: higher is better on every task), so the darkest cell of a column is its best
encoder whatever the metric; the number stays in the cell for readers who cannot tell the shades apart."""

from __future__ import annotations

import pandas as pd

RAMP = ((247, 251, 240), (199, 233, 180), (127, 199, 125), (44, 150, 86), (0, 84, 44))
"""Light to dark green, evenly spaced stops: lightness falls steadily, so darker always means better."""
DARK_FROM = 0.6
"""From this position on the ramp the cell's text is white."""


def shades(values: pd.Series) -> pd.Series:
    """Each value's position in [0, 1] within its column (min to max); NaN stays NaN, a column whose
    values are all equal sits mid-scale."""
    low, high = values.min(), values.max()
    if pd.isna(low):
        return values.astype(float)
    if high == low:
        return values.where(values.isna(), 0.5).astype(float)
    return ((values - low) / (high - low)).astype(float)


def colour(position: float) -> str:
    """The ramp's colour at `position` in [0, 1], as #rrggbb (linear between stops)."""
    scaled = min(max(position, 0.0), 1.0) * (len(RAMP) - 1)
    index = min(int(scaled), len(RAMP) - 2)
    weight = scaled - index
    rgb = (round(a + (b - a) * weight) for a, b in zip(RAMP[index], RAMP[index + 1]))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def style(position: float) -> str:
    """A cell's inline style: its background and a text colour that stays readable on it."""
    ink = "#fff" if position >= DARK_FROM else "#111"
    return f"background:{colour(position)};color:{ink}"
