"""Harness errors, and the tuple of every error the CLI reports as one line without a traceback."""
from encoders.errors import EncoderError
from tasks.errors import DataError


class CcbenchError(Exception):
    """Root of the harness's errors; messages name the file and the fix."""


class CacheError(CcbenchError):
    """A feature cache cannot be created, written or read."""


class CacheKeyMismatch(CacheError):
    """A store at a key's path records another key: it is never read."""


class CorruptChunk(CacheError):
    """A chunk of a finished store fails to decode or holds non-finite values."""


class NonFiniteFeatures(CcbenchError):
    """The encoder produced NaN or infinity, or a value float16 cannot hold."""


class ResultError(CcbenchError):
    """A result file is missing, malformed, or of an unknown schema version."""


USER_ERRORS = (CcbenchError, EncoderError, DataError)
