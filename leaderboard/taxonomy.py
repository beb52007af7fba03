"""What the leaderboard knows of the battery and of image domains, learned from the result files it reads:
each lists the battery it was scored in (every task's category, metric and domains, in protocol order) and
its encoder's pretrain_domain (leaderboard.schema). The tasks' home is tasks/battery.py, the datasets'
encoders/study.py; no copy of either lives here.

Files written before those keys existed still carry their own task's category and metric. A task that
no file's battery lists sorts after the listed ones, alphabetically, with its domains unknown; an encoder
whose files all predate pretrain_domain (and whose pretrain_data no newer file names) has no known domain.
The analyses that need a domain say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from leaderboard.collect import version_key

IMAGENET = "imagenet"
"""The task every other is correlated with (docs/PROTOCOL.md section 6 item 2): an anchor of the analyses."""


@dataclass(frozen=True)
class Taxonomy:
    """The battery as the newest result files list it, and each pretrain_data's domain as files record it."""

    order: tuple[str, ...] = ()  # every listed task in protocol order
    category: dict[str, str] = field(default_factory=dict)  # listed task -> category
    metric: dict[str, str] = field(default_factory=dict)  # listed task -> metric
    domains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # listed task -> its images' domains
    pretrain_domains: dict[str, str] = field(default_factory=dict)  # pretrain_data -> domain

    def task_order(self, tasks: Iterable[str]) -> list[str]:
        """Listed tasks in protocol order, then the others (in no file's battery) alphabetically."""
        tasks = set(tasks)
        return [t for t in self.order if t in tasks] + sorted(tasks - set(self.order))

    def protocol_tasks(self, category: str) -> list[str]:
        return [t for t in self.order if self.category[t] == category]

    def category_order(self, categories: Iterable[str]) -> list[str]:
        """Categories in the order the battery first lists them, then the others alphabetically."""
        categories = set(categories)
        listed = [c for c in dict.fromkeys(self.category[t] for t in self.order) if c in categories]
        return listed + sorted(categories - set(listed))

    def pretrain_domain(self, pretrain_data: object) -> str | None:
        """None for data no file records a domain for (a random init's 'none', files written before the key)."""
        return self.pretrain_domains.get(pretrain_data) if isinstance(pretrain_data, str) else None


def learn(rows: pd.DataFrame) -> Taxonomy:
    """The taxonomy of the tidy rows of `load_results`: the union of the files' battery listings, the newest
    ccbench_version's first (its order, category, metric and domains win; a task only older listings name
    follows them), and pretrain_data -> pretrain_domain over every file that records one, newest first."""
    files = rows.drop_duplicates("file")
    newest = sorted(
        files[["ccbench_version", "created", "battery", "pretrain_data", "pretrain_domain"]].itertuples(index=False),
        key=lambda f: (isinstance(f.ccbench_version, str), version_key(f.ccbench_version), f.created),
        reverse=True,
    )
    order: dict[str, None] = {}
    category: dict[str, str] = {}
    metric: dict[str, str] = {}
    domains: dict[str, tuple[str, ...]] = {}
    for battery in dict.fromkeys(f.battery for f in newest if isinstance(f.battery, tuple)):
        for task, task_category, task_metric, task_domains in battery:
            order.setdefault(task)
            category.setdefault(task, task_category)
            metric.setdefault(task, task_metric)
            domains.setdefault(task, task_domains)
    pretrain: dict[str, str] = {}
    for f in newest:
        if isinstance(f.pretrain_data, str) and isinstance(f.pretrain_domain, str):
            pretrain.setdefault(f.pretrain_data, f.pretrain_domain)
    return Taxonomy(order=tuple(order), category=category, metric=metric, domains=domains, pretrain_domains=pretrain)
