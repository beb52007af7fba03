"""A torchrun entry point whose rank CCBENCH_TEST_KILL_RANK kills itself (SIGKILL) as it is about
to write its first unit, then runs ccbench's CLI: a rank dying mid-extraction, for the resume test."""

from __future__ import annotations

import os
import signal
import sys

import harness.cli
from harness.cache import FeatureStore

if os.environ["RANK"] == os.environ["CCBENCH_TEST_KILL_RANK"]:

    def die(self: FeatureStore, unit: int, values: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    FeatureStore.write_unit = die  # type: ignore[method-assign]

sys.exit(harness.cli.main())
