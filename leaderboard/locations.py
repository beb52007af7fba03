"""Folders given as local paths or as fsspec URLs (`s3://bucket/results`, `gs://...`), behind the
few path operations results and leaderboards use, so one code path reads and writes both.

A `Remote` answers like a `pathlib.Path` for what results need (`/`, `name`, `exists`, `glob` of
one level, reads) and is written with `write`: on an object store a file is one PUT, which the
store makes visible whole or not at all, the guarantee `leaderboard.files.write_atomic` gives on a
local disk. `file://` URLs are plain local paths, with every local guarantee (locks, renames).
Credentials and endpoints come from the store's own standard settings (for S3: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ~/.aws), read by s3fs and botocore, not from ccbench flags.

Imports only the standard library at load (fsspec when a URL is used): the leaderboard stays torch-free.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from leaderboard.files import write_atomic


@functools.cache
def filesystem(protocol: str) -> Any:
    """One fsspec file system per protocol in a process (s3fs keeps its connections there), with
    no cached listings: other ranks and runs write the same folders."""
    import fsspec

    return fsspec.filesystem(protocol, use_listings_cache=False)


@dataclass(frozen=True)
class Remote:
    """A file or folder on an fsspec file system, named by its URL (no trailing slash)."""

    url: str

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def fs(self) -> Any:
        return filesystem(self.protocol)

    @property
    def key(self) -> str:
        """The path as the file system names it (the URL without its protocol)."""
        return self.url.split("://", 1)[1]

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def parent(self) -> Remote:
        return Remote(self.url.rsplit("/", 1)[0])

    def __truediv__(self, part: str | Path) -> Remote:
        return Remote(f"{self.url}/{str(part).strip('/')}")

    def __str__(self) -> str:
        return self.url

    def exists(self) -> bool:
        return bool(self.fs.exists(self.key))

    def is_file(self) -> bool:
        return bool(self.fs.isfile(self.key))

    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self.key))

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.key)

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def glob(self, pattern: str) -> list[Remote]:
        """Files directly in this folder whose names match `pattern` (one level, like Path.glob)."""
        try:
            entries = self.fs.ls(self.key, detail=True, refresh=True)
        except FileNotFoundError:
            return []
        return [
            self / name
            for entry in entries
            if entry["type"] == "file"
            and fnmatch.fnmatch(name := entry["name"].rstrip("/").rsplit("/", 1)[-1], pattern)
        ]

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise


Location = Path | Remote


def location(where: str | Path | Remote) -> Location:
    """A folder or file as typed: a URL with a scheme other than file:// is Remote, anything else
    a local path (`~` expanded)."""
    if isinstance(where, (Path, Remote)):
        return where
    parts = urlsplit(where)
    if parts.scheme == "file":
        return Path(parts.path).expanduser()
    if "://" in where and len(parts.scheme) > 1:  # not a Windows drive letter
        return Remote(where.rstrip("/"))
    return Path(where).expanduser()


def write(where: Location, data: bytes | str) -> Location:
    """Replace the file at `where` whole: a local temporary file renamed over it, or one PUT."""
    if isinstance(where, Remote):
        where.fs.pipe_file(where.key, data.encode() if isinstance(data, str) else data)
        return where
    return write_atomic(where, data)
