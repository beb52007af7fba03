"""Cache files checked like features: labels, dense targets and decoded inputs carry the sha256 of
their bytes, recorded beside them (`<file>.sha256`) when they are written and compared on every
read, so a changed byte or a cut-short file is refused instead of silently changing what a head
trains or is scored on.

The file is written first and its checksum last, each replaced whole (leaderboard.files), so a crash
between the two leaves a file without a checksum, which counts as absent and is rebuilt from the
dataset, as is a file written before checksums were recorded.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.errors import CacheError
from leaderboard.files import replacing
from leaderboard.locations import Location, Remote, location, write

FOLDERS = ("labels", "targets", "inputs")
"""The cache folders whose .npy files are checked."""


def checksum_path(path: Location) -> Location:
    return path.parent / f"{path.name}.sha256"


def file_sha256(path: Location) -> str:
    if isinstance(path, Remote):
        return hashlib.sha256(path.read_bytes()).hexdigest()
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_checked(path: Location, fill: Callable[[Path], None]) -> None:
    """Write `path` through `fill(temporary path)`, then record its checksum. OSError propagates.
    On an object store the file is filled locally and sent in one PUT."""
    checksum_path(path).unlink(missing_ok=True)  # a stale record must never vouch for new bytes
    if isinstance(path, Remote):
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder) / path.name
            fill(tmp)
            digest = file_sha256(tmp)
            write(path, tmp.read_bytes())
    else:
        with replacing(path) as tmp:
            fill(tmp)
            digest = file_sha256(tmp)
    write(checksum_path(path), f"{digest}  {path.name}\n")


def problem(path: Location) -> str | None:
    """Why `path` must not be read: its bytes differ from the checksum recorded for them. None when
    they match, and when no checksum is recorded, as such a file is never read but rebuilt."""
    record = checksum_path(path)
    if not (path.exists() and record.exists()):
        return None
    try:
        expected = record.read_text().split()[0]
    except (IndexError, UnicodeDecodeError):
        return f"unreadable checksum file {record.name}"
    if file_sha256(path) != expected:
        return "changed or cut short since it was written (checksum mismatch)"
    return None


def is_sound(path: Location) -> bool:
    """True when `path` may be read; False when it is absent or has no recorded checksum (rebuild
    it); a file whose bytes differ from its checksum is refused with one line."""
    if not (path.exists() and checksum_path(path).exists()):
        return False
    found = problem(path)
    if found is not None:
        raise CacheError(
            f"{path}: {found}; run `ccbench cache verify --repair` (or delete the file) and rerun: "
            "it is rebuilt from the dataset"
        )
    return True


def remove(path: Location) -> None:
    """Drop a damaged file and its checksum, so the next run rebuilds it."""
    path.unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)


def checked_files(cache_root: Location) -> list[Location]:
    """Every checked file under the cache root."""
    root = location(cache_root)
    if isinstance(root, Remote):
        keys = [key for folder in FOLDERS for key in root.fs.glob(f"{root.key}/{folder}/*/*.npy")]
        return [Remote(f"{root.protocol}://{key}") for key in sorted(keys)]
    return sorted(path for folder in FOLDERS for path in (root / folder).glob("*/*.npy"))
