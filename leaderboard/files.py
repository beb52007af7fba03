"""Files and folders replaced whole, for every package that writes what others read.

A file is written under a temporary name beside its target, fsynced, renamed over the target and
its folder fsynced, so a reader sees the old file or the new one and a crash leaves no torn file.
Temporary names carry the host and process id (`.<name>.<host>.<pid>.<token>.tmp`), so two
writers never share one, and a later writer removes the leftovers of writers that died. New files
get the permissions the umask allows, like any file a tool creates (tempfile's 0600 would hide
results and leaderboards from the group that shares them).

This module imports only the standard library and filelock: leaderboard/ writes its outputs through
it, and harness/ (results, heads, labels, the cache), which may import leaderboard/ while the
leaderboard may import nothing of harness/, writes through it too.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"
"""This machine's name as temporary names spell it (dots and other separators replaced)."""

TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")


def temp_path(path: Path) -> Path:
    """A name beside `path` that no other writer uses: hidden, tagged with this host and process."""
    return path.with_name(f".{path.name}.{HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary files and folders in `folder` whose writer, on this host, has died;
    returns what was removed. Another host's leftovers are kept: its processes cannot be checked."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = TEMPORARY.fullmatch(entry.name)
        if match is None or match["host"] != HOST or _alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entries to disk (a folder: so a rename in it survives a crash)."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        handle = os.open(path, flags)
    except PermissionError:  # a folder some systems refuse to open; its rename is still done
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path for the caller to write `path`'s new content to; when the block ends
    cleanly the file is fsynced and renamed over `path`, and the folder fsynced; on any error it is
    removed, so a full disk or a failed encoder leaves only the old file. OSError propagates for
    the caller to name its own fix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent)
    tmp = temp_path(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Replace `path` by `data` (str as UTF-8): a reader sees the old content or the new, never part."""
    path = Path(path)
    with replacing(path) as tmp:
        with open(tmp, "xb") as out:  # created 0666 less the umask
            out.write(data.encode() if isinstance(data, str) else data)
    return path


RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step with Linux's renameat2; False where the system lacks it."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return False
    at_cwd = -100
    if renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # this file system cannot exchange
        return False
    raise OSError(error, os.strerror(error), str(second))


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder `new` at `target` (a sibling) and remove what was there: one atomic exchange
    where the system has it, else two renames, between which `target` is briefly absent. Either
    way a reader never sees some files of the old folder beside some of the new."""
    if target.exists():
        if _exchange(new, target):
            old = new
        else:
            old = temp_path(target)
            os.rename(target, old)
            os.rename(new, target)
        fsync_path(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)
        fsync_path(target.parent)


def lock(path: Path) -> FileLock:
    """An exclusive OS lock on the file `path`, released when its holder exits or dies; one object
    per path in a process, so taking it again in the same thread does not deadlock."""
    return FileLock(path, is_singleton=True)
