"""Harness errors, and the tuple of every error the CLI reports as one line without a traceback."""

from __future__ import annotations

from pathlib import Path

from encoders.errors import EncoderError
from tasks.errors import DataError


class CcbenchError(Exception):
    """Root of the harness's errors; messages name the file and the fix."""


class CacheError(CcbenchError):
    """A feature cache cannot be created, written or read."""


class CacheKeyMismatch(CacheError):
    """A store at a key's path records another key: it is never read."""


class CorruptChunk(CacheError):
    """A chunk of a finished store is missing, fails to decode or holds non-finite values; `path`
    and `units` say where, so exactly those units can be extracted again."""

    def __init__(self, message: str, path: Path | None = None, units: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.path, self.units = path, units


class NonFiniteFeatures(CcbenchError):
    """The encoder produced NaN or infinity, or a value float16 cannot hold."""


class ResultError(CcbenchError):
    """A result file is missing, malformed, or of an unknown schema version."""


USER_ERRORS = (CcbenchError, EncoderError, DataError)
