"""ccbench's CLI in a process that kills itself (SIGKILL) as it is about to write a unit, after
CCBENCH_TEST_KILL_AFTER units (default 0), when it is rank CCBENCH_TEST_KILL_RANK of torchrun (or
a plain process, rank 0): a writer dying mid-extraction, for the resume tests."""

from __future__ import annotations

import os
import signal
import sys

import harness.cli
from harness.cache import FeatureStore

if os.environ.get("RANK", "0") == os.environ.get("CCBENCH_TEST_KILL_RANK", "0"):
    write_unit = FeatureStore.write_unit
    written = [0]

    def die(self: FeatureStore, unit: int, values: object) -> None:
        if written[0] >= int(os.environ.get("CCBENCH_TEST_KILL_AFTER", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        write_unit(self, unit, values)
        written[0] += 1

    FeatureStore.write_unit = die  # type: ignore[method-assign]

sys.exit(harness.cli.main())
