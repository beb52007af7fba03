"""The wide leaderboard: one row per encoder with its metadata, each task's mean score over seeds,
per-category means of normalized scores (with a completeness flag) and an overall rank.

Decisions, also written into every output's notes:
- a category is complete for an encoder when it has a normalized score on every task of that category
  that the leaderboard normalizes; its mean is over the tasks it has, flagged `<category>_complete`;
- overall = mean of the encoder's category means (each category weighs the same, however many tasks
  it has); `overall_complete` is true only when every category on the board is complete;
- rank: by overall, highest first, ties share the best rank; an encoder with no category mean is unranked;
- uncertainty: per task the seed standard deviation (`<task>_std`, as the result's score_std, with several
  seeds), the 95% interval (`<task>_ci95_lo`, `_hi`) and whether the encoder is separable from the next lower
  score (`<task>_vs_next`; `overall_vs_next` in rank order), by the rule of leaderboard.uncertainty, and which
  rule decided it (`<task>_vs_next_by`: paired bootstrap where both results keep predictions, else interval
  overlap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from leaderboard.collect import DEFAULT_PROTOCOL, ENCODER_KEYS, version_key
from leaderboard.errors import LeaderboardError
from leaderboard.normalize import Normalized, find_supervised, normalize
from leaderboard.taxonomy import Taxonomy, learn
from leaderboard.uncertainty import Paired, overall_vs_next, task_basis, task_vs_next


@dataclass
class Leaderboard:
    """Everything the renderers and analyses need, computed once."""

    table: pd.DataFrame  # one row per encoder, sorted by rank
    tasks: list[str]
    categories: list[str]
    task_category: dict[str, str]
    scores: pd.DataFrame  # fingerprint x task, mean over seeds
    normalized: Normalized
    encoders: pd.DataFrame  # fingerprint-indexed metadata
    supervised: str | None
    notes: list[str] = field(default_factory=list)
    std: pd.DataFrame = field(default_factory=pd.DataFrame)  # fingerprint x task, seed std (NaN: one seed)
    low: pd.DataFrame = field(default_factory=pd.DataFrame)  # fingerprint x task, 95% interval bounds
    high: pd.DataFrame = field(default_factory=pd.DataFrame)
    taxonomy: Taxonomy = field(default_factory=Taxonomy)  # the battery and domains as the files record them
    metric: dict[str, str] = field(default_factory=dict)  # task -> metric id, as its result files say
    higher_is_better: dict[str, bool] = field(default_factory=dict)  # task -> direction of its score
    paired: Paired | None = None  # paired bootstrap verdicts from the selected results' predictions


def select_runs(rows: pd.DataFrame, include_overrides: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Keep one result file per (encoder, task): standard runs before overridden ones, then the newest
    protocol version, then the newest file; drop overridden runs unless asked to include them."""
    notes: list[str] = []
    if not include_overrides:
        dropped = rows[rows["overrides"]]
        if not dropped.empty:
            notes.append(
                f"{dropped['file'].nunique()} result file(s) with overridden protocol settings "
                "left out (include them with the overrides option)"
            )
        rows = rows[~rows["overrides"]]
    files = rows.drop_duplicates("file")[["file", "fingerprint", "task", "overrides", "protocol", "created"]]
    files = files.assign(_v=files["protocol"].map(version_key))
    files = files.sort_values(["overrides", "_v", "created"], ascending=[True, False, False])
    keep = files.drop_duplicates(["fingerprint", "task"])
    if len(keep) < len(files):
        notes.append(
            f"{len(files) - len(keep)} result file(s) superseded by another run of the same "
            "encoder and task (standard run or newer protocol version kept)"
        )
    return rows[rows["file"].isin(set(keep["file"]))], notes


def spread(rows: pd.DataFrame, encoders: pd.Index, tasks: list[str]) -> tuple[pd.DataFrame, ...]:
    """(seed std, interval low, interval high), each fingerprint x task. The std is over seeds (ddof 0, as
    the result's score_std) where there are several; the interval is the mean of the seeds' bounds where
    every seed has one, else NaN ('unknown')."""
    grouped = rows.groupby(["fingerprint", "task"])
    size = grouped.size()
    std = grouped["score"].std(ddof=0).where(size > 1)
    full = grouped["ci95_lo"].count() == size
    low, high = grouped["ci95_lo"].mean().where(full), grouped["ci95_hi"].mean().where(full)
    return tuple(v.unstack().reindex(index=encoders, columns=tasks).astype(float) for v in (std, low, high))


def of_protocol(rows: pd.DataFrame, protocol: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one protocol (docs/PROTOCOL.md section 8), so scores of two protocols never share a
    row or a table; a note says which protocol is shown and how many files of others were left out."""
    others = rows[rows["protocol_name"] != protocol]
    notes = [f"protocol {protocol}: every score below was made under it"]
    if not others.empty:
        names = ", ".join(sorted(others["protocol_name"].unique()))
        notes.append(
            f"{others['file'].nunique()} result file(s) of protocol {names} left out (show them with --protocol)"
        )
    return rows[rows["protocol_name"] == protocol], notes


def build_table(
    rows: pd.DataFrame, include_overrides: bool = False, supervised: str | None = None, protocol: str = DEFAULT_PROTOCOL
) -> Leaderboard:
    """The leaderboard of tidy rows from `load_results` for one protocol; the battery is learnt from every
    file of it, overridden and superseded runs included (their listing is as good as any)."""
    rows, shown = of_protocol(rows, protocol)
    if rows.empty:
        raise LeaderboardError(f"no result files of protocol {protocol}; score an encoder with --protocol {protocol}")
    taxonomy = learn(rows)
    rows, notes = select_runs(rows, include_overrides)
    notes = shown + notes
    if rows.empty:
        raise LeaderboardError(
            "no standard result files to rank; score an encoder first (or include runs with overrides)"
        )
    encoders = rows.drop_duplicates("fingerprint").set_index("fingerprint", drop=False)[list(ENCODER_KEYS)]
    encoders = encoders.assign(pretrain_domain=encoders["pretrain_data"].map(taxonomy.pretrain_domain))
    tasks = taxonomy.task_order(rows["task"].unique())
    first = rows.drop_duplicates("task").set_index("task")
    task_category = first["category"].to_dict()
    for key, listed in (("category", taxonomy.category), ("metric", taxonomy.metric)):
        for task, value in first[key].items():
            if task in listed and listed[task] != value:
                notes.append(
                    f"{task}: result files say {key} {value!r}, the newest battery listing says "
                    f"{listed[task]!r}; the files' {key} is used"
                )
    unlisted = [t for t in tasks if t not in taxonomy.category]
    if unlisted and not taxonomy.order:
        notes.append(
            "no result file lists the battery it was scored in (all were written before results did): "
            "tasks in alphabetical order, each category judged complete against the tasks present only, "
            "image domains unknown; rescore a task with this ccbench to list it"
        )
    elif unlisted:
        notes.append(
            f"{', '.join(unlisted)}: in no result file's battery (files written before results listed it, "
            "or a task since left the battery): sorted last, image domains unknown"
        )
    higher = first["higher_is_better"].to_dict()
    scores = rows.pivot_table(index="fingerprint", columns="task", values="score", aggfunc="mean")
    scores = scores.reindex(index=encoders.index, columns=tasks)
    std, low, high = spread(rows, encoders.index, tasks)
    sup, how = find_supervised(encoders, supervised)
    notes.append(how)
    norm = normalize(scores, higher, sup)
    zscored = [t for t, r in norm.reference.items() if r == "z-score"]
    if sup is not None and zscored:
        notes.append(f"the supervised encoder lacks {', '.join(zscored)}: z-scored across encoders instead")
    for task, ref in norm.reference.items():
        if ref.startswith("none"):
            notes.append(f"{task} is left out of the category means ({ref[6:]})")
    categories = taxonomy.category_order(task_category.values())
    table = encoders.copy()
    table["fingerprint"] = encoders.index
    for task in tasks:
        table[task] = scores[task]
    means, complete = pd.DataFrame(index=encoders.index), pd.DataFrame(index=encoders.index)
    for category in categories:
        used = [t for t in tasks if task_category[t] == category and not norm.reference[t].startswith("none")]
        if not used:
            continue
        values = norm.values[used]
        means[category] = values.mean(axis=1, skipna=True)
        complete[category] = values.notna().all(axis=1)
        protocol = taxonomy.protocol_tasks(category)
        missing = [t for t in protocol if t not in used]
        if missing:
            outside = [t for t in used if t not in protocol]
            plus = f", plus {', '.join(outside)}" if outside else ""
            notes.append(
                f"{category}: mean over {len(used) - len(outside)} of the protocol's {len(protocol)} "
                f"tasks{plus} (no normalized scores for {', '.join(missing)})"
            )
    for category in means.columns:
        table[category] = means[category]
        table[f"{category}_complete"] = complete[category]
    table["overall"] = means.mean(axis=1, skipna=True)
    table["overall_complete"] = complete.all(axis=1) & means.notna().all(axis=1)
    table["rank"] = table["overall"].rank(ascending=False, method="min").astype("Int64")
    table = table.sort_values(["rank", "name"], na_position="last")
    ranked = [f for f, r in zip(table["fingerprint"], table["rank"]) if pd.notna(r)]
    paired = Paired(
        {
            (fingerprint, task): path
            for fingerprint, task, path in rows[["fingerprint", "task", "predictions"]].itertuples(index=False)
            if isinstance(path, str)
        }
    )
    table["overall_vs_next"] = overall_vs_next(ranked, scores, low, high, paired)
    vs_next = task_vs_next(scores, low, high, paired)
    basis = task_basis(scores, paired)
    notes.extend(paired.notes)
    kinds = (("std", std), ("ci95_lo", low), ("ci95_hi", high), ("vs_next", vs_next), ("vs_next_by", basis))
    extra = pd.DataFrame({f"{task}_{kind}": values[task] for task in tasks for kind, values in kinds}).loc[table.index]
    main = [
        "rank",
        *ENCODER_KEYS,
        *tasks,
        *[c for m in means.columns for c in (m, f"{m}_complete")],
        "overall",
        "overall_complete",
        "overall_vs_next",
    ]
    table = pd.concat([table[main], extra], axis=1).reset_index(drop=True)
    notes.append(
        "overall = mean of the category means (each category weighs the same); rank by overall, "
        "ties share a rank; '*' marks a mean over an incomplete category"
    )
    return Leaderboard(
        table=table,
        tasks=tasks,
        categories=list(means.columns),
        task_category=task_category,
        scores=scores,
        normalized=norm,
        encoders=encoders,
        supervised=sup,
        notes=notes,
        std=std,
        low=low,
        high=high,
        taxonomy=taxonomy,
        metric={t: str(m) for t, m in first["metric"].items()},
        higher_is_better={t: bool(h) for t, h in higher.items()},
        paired=paired,
    )
