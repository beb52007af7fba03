"""The write lock of a feature store on an object store, which has no OS lock: a lease object.

A writer creates `<store>.lease` with an exclusive PUT (If-None-Match: *, which S3, GCS and
S3-compatible servers honour), so of two runs only one gets it; the holder renews its expiry from
a thread while it holds the store, and deletes it on release. A second run waits while the lease
is renewed, as it waits for a local store's lock; a lease left by a dead holder expires after
TTL_S and is then taken over. Ranks of one torchrun world need none of this among themselves:
rank 0 holds the lease for the run and the ranks write disjoint units (harness.prepare).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time

from filelock import Timeout

from leaderboard.locations import Remote

log = logging.getLogger("ccbench")

TTL_S = float(os.environ.get("CCBENCH_LEASE_S", "120"))
"""How long a lease holds without renewal: a dead holder blocks its store this long at most."""
POLL_S = 2.0


class Busy(Timeout):
    """The lease is held by another live writer (raised when not waiting)."""


class Lease:
    """An acquired lease on `target` (a store's URL), renewed until `release`."""

    def __init__(self, target: Remote, wait: bool = True) -> None:
        self.object = target.parent / f"{target.name}.lease"
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.stop = threading.Event()
        self._acquire(target, wait)
        self.thread = threading.Thread(target=self._renew, name="ccbench-lease", daemon=True)
        self.thread.start()

    def _record(self) -> bytes:
        return json.dumps({"holder": self.token, "expires": time.time() + TTL_S}).encode()

    def _acquire(self, target: Remote, wait: bool) -> None:
        said = False
        while True:
            try:
                self.object.fs.pipe_file(self.object.key, self._record(), mode="create")
                return
            except FileExistsError:
                pass
            try:
                expires = float(json.loads(self.object.read_bytes())["expires"])
            except (FileNotFoundError, ValueError, KeyError):
                continue  # released meanwhile, or caught half way: try again
            if expires < time.time():
                log.warning("ccbench: warning: %s: its writer's lease expired; taking the store over", target)
                self.object.unlink(missing_ok=True)
                continue
            if not wait:
                raise Busy(str(target))
            if not said:
                log.info("%s: another ccbench process is writing this store; waiting for it to finish", target)
                said = True
            time.sleep(POLL_S)

    def _renew(self) -> None:
        while not self.stop.wait(TTL_S / 4):
            self.object.fs.pipe_file(self.object.key, self._record())

    def release(self) -> None:
        self.stop.set()
        self.thread.join()
        self.object.unlink(missing_ok=True)
