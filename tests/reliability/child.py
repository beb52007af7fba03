"""The process a fault trial runs: ccbench's own CLI (`harness.cli.main`), in a child forked from a
server that imported it once (torch, zarr and matplotlib take seconds to import; a trial takes one),
with a fault injected at a file-system event.

Every call that creates, renames or removes a file or folder is an event, named by its operation
and its path relative to the trial's folder, with random parts (Zarr's and leaderboard.files' temporary
names) masked so that one event has one name in every run. A fault acts before the n-th event
whose name matches a pattern: `kill` sends SIGKILL to the process, `enospc` raises "No space left
on device" (and with `every` on each later match too); `log` writes every event name to a file,
which is how a trial picks a point. `tmpfs` mounts a size-limited tmpfs over a folder first, in a
private user and mount namespace (a real full disk, where the system permits one).
"""

from __future__ import annotations

import builtins
import ctypes
import errno
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import harness.cli
import harness.commands  # noqa: F401 - imported here once, so each forked trial starts warm
import leaderboard.render  # noqa: F401

_open = builtins.open  # the unwrapped call, for the trial's own report

MASKS = (
    (re.compile(r"\.[0-9a-f]{32}\.partial"), ".*.partial"),
    (re.compile(r"\.[A-Za-z0-9_-]+\.\d+\.[0-9a-f]{8}\.tmp"), ".*.tmp"),
)
WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@dataclass(frozen=True)
class Fault:
    action: str = "none"
    pattern: str = ""
    n: int = 1
    every: bool = False
    log: str = ""
    tmpfs: str = ""
    tmpfs_bytes: int = 0
    fill_to: int = 0
    """With `tmpfs`: leave this many bytes free by writing a filler file first (0: no filler)."""


def event_name(op: str, path: Any, base: str) -> str | None:
    try:
        text = os.fsdecode(path)
    except TypeError:  # a descriptor
        return None
    if text.startswith(base):
        text = text[len(base) :].lstrip("/")
    for mask, replacement in MASKS:
        text = mask.sub(replacement, text)
    return f"{op} {text}"


class Injector:
    """Wraps the os and builtins calls that write, counting events and acting on the chosen one."""

    def __init__(self, fault: Fault, base: str) -> None:
        self.fault, self.base, self.seen = fault, base, 0
        self.pattern = re.compile(fault.pattern) if fault.pattern else None
        self.log = os.open(fault.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if fault.log else None

    def event(self, op: str, path: Any) -> None:
        name = event_name(op, path, self.base)
        if name is None:
            return
        if self.log is not None:
            os.write(self.log, (name + "\n").encode())
        if self.pattern is None or not self.pattern.fullmatch(name):
            return
        self.seen += 1
        if self.seen < self.fault.n or (self.seen > self.fault.n and not self.fault.every):
            return
        if self.fault.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault.action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(path))

    def wrap(
        self, op: str, call: Callable, position: int = 0, writes: Callable[..., bool] = lambda *a, **k: True
    ) -> Callable:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if writes(*args, **kwargs):
                self.event(op, args[position])
            return call(*args, **kwargs)

        return wrapped

    def install(self) -> None:
        opened = builtins.open
        writing = lambda file, mode="r", *a, **k: any(c in mode for c in "wax+")  # noqa: E731
        builtins.open = io.open = self.wrap("open", opened, writes=writing)
        os.open = self.wrap("open", os.open, writes=lambda path, flags, *a, **k: bool(flags & WRITES))
        for op in ("replace", "rename", "link"):
            setattr(os, op, self.wrap(op, getattr(os, op), position=1))
        for op in ("mkdir", "unlink", "remove", "rmdir"):
            setattr(os, op, self.wrap(op, getattr(os, op)))


def mount_tmpfs(folder: str, size: int) -> bool:
    """A tmpfs of `size` bytes over `folder`, seen by this process only; False where the system
    forbids unprivileged user namespaces (the caller then injects ENOSPC instead)."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    private = libc.mount(None, b"/", None, 0x4000 | 0x40000, None) == 0  # MS_REC | MS_PRIVATE
    os.makedirs(folder, exist_ok=True)
    return private and libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, f"size={size}".encode()) == 0


def listing(folder: str) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256), for the parent to inspect after the
    private mount is gone."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run(commands: list[list[str]], base: str, fault: Fault, report: str, umask: int, seed: str = "") -> None:
    """The child's body: run each command in turn (stopping at the first failure) under `fault`,
    and write {codes, tmpfs, listing} to `report` (stdout and stderr go to report.out/report.err)."""
    for fd, suffix in ((1, ".out"), (2, ".err")):
        handle = os.open(report + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    os.umask(umask)
    multiprocessing.set_start_method("fork", force=True)  # as in a ccbench process; a forkserver child inherits its own
    torch.set_num_threads(1)
    folder = fault.tmpfs
    mounted = bool(folder) and mount_tmpfs(folder, fault.tmpfs_bytes)
    if seed:
        shutil.copytree(seed, folder, dirs_exist_ok=True)
    if mounted and fault.fill_to:
        free = os.statvfs(folder)
        with open(os.path.join(folder, "filler"), "wb") as handle:
            handle.write(b"\0" * max(free.f_bavail * free.f_frsize - fault.fill_to, 0))
    if folder and not mounted:
        relative = re.escape(folder[len(base) :].lstrip("/"))
        fault = Fault("enospc", pattern=rf"(open|replace|rename|mkdir) {relative}/.*", every=True)
    if fault.action != "none":
        Injector(fault, base).install()
    codes = []
    for argv in commands:
        codes.append(harness.cli.main(argv))
        if codes[-1]:
            break
    sys.stdout.flush()
    sys.stderr.flush()
    outcome = {"codes": codes, "tmpfs": mounted, "listing": listing(folder) if folder else {}}
    with _open(report, "w") as handle:
        json.dump(outcome, handle)
