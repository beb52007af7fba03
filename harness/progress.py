"""Progress reporting: tqdm bars for people at a terminal, plain log lines with --quiet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

log = logging.getLogger("ccbench")


@contextmanager
def progress(total: int, description: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callable; quiet mode logs the start and the end only."""
    if quiet:
        log.info("%s: %d to do", description, total)
        yield lambda n: None
        log.info("%s: done", description)
        return
    with tqdm(total=total, desc=description, unit="it", leave=False, dynamic_ncols=True) as bar:
        yield bar.update
