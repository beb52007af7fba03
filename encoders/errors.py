"""Encoder errors: one line naming the file, what is wrong and the fix; the CLI prints it as is."""


class EncoderError(Exception):
    """Root of the encoder errors, so callers can catch every refusal of an encoder at once."""


class CheckpointNotFound(EncoderError):
    """The checkpoint path names no file."""


class CheckpointUnreadable(EncoderError):
    """The file exists but is not a readable torch or safetensors file (truncated, corrupt, another format)."""


class UnsafeCheckpoint(EncoderError):
    """`torch.load(weights_only=True)` refused a pickled Python object; only the user may trust it."""


class CheckpointMismatch(EncoderError):
    """The backbone keys or shapes do not match torchvision's ResNet-50 (under the container and prefix
    asked for, if any), so loading would be wrong."""


class AmbiguousCheckpoint(EncoderError):
    """Several containers or prefixes each hold a whole backbone and no documented default picks one."""


class NonFiniteWeights(EncoderError):
    """A backbone tensor holds NaN or Inf, so the features computed from it would be too."""


class UnknownEncoder(EncoderError):
    """An encoder source the registry cannot build: neither a checkpoint path nor `random:SEED`, or a
    random encoder given options that only a checkpoint file has."""
