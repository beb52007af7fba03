"""Safe regeneration: outputs are replaced atomically and concurrent builds of one folder take turns."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from filelock import FileLock


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write to a temporary file in the same folder, fsync, then os.replace: a reader sees old or new."""
    payload = data.encode() if isinstance(data, str) else data
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def build_lock(out_dir: Path) -> FileLock:
    """An exclusive lock on out_dir/.lock held for a whole build (an OS lock: released if the process dies)."""
    return FileLock(out_dir / ".lock")
