"""Read a ResNet-50 checkpoint in any supported layout and map it strictly onto torchvision names.

Loading is strict because a lenient load of a file with unexpected prefixes silently yields a
random encoder with nothing to show for it. Layouts are told apart by where the stem conv sits.
"""
from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from encoders.canonical import backbone_shapes, is_counter
from encoders.errors import CheckpointMismatch, CheckpointNotFound, CheckpointUnreadable, UnsafeCheckpoint

UNKNOWN = "unknown"
_SHOWN = 8
_VISSL_TRUNK = ("classy_state_dict", "base_model", "model", "trunk")
# What torch's weights-only unpickler says when it refuses an object (as opposed to bad bytes).
_REFUSED_OBJECT = re.compile(r"GLOBAL|allowlisted|unrecognized function")


@dataclass(frozen=True)
class _Layout:
    """How one format stores the backbone: a key prefix to strip, and the head keys to drop.

    A head entry ending in "." drops every key under it; any other entry drops that exact key.
    """

    prefix: str
    heads: tuple[str, ...] = ()

    @property
    def stem_key(self) -> str:
        """The stem conv's key in this format, which identifies the format."""
        return self.prefix + "conv1.weight"

    def is_head(self, key: str) -> bool:
        """Whether `key` is one of the format's known non-backbone entries."""
        return any(key.startswith(head) if head.endswith(".") else key == head for head in self.heads)

    def rename(self, key: str) -> str | None:
        """The torchvision name for `key`, or None when the key lies outside the backbone prefix."""
        return key[len(self.prefix):] if key.startswith(self.prefix) else None


_LAYOUTS: dict[str, _Layout] = {
    "torchvision": _Layout("", ("fc.weight", "fc.bias")),
    "virb": _Layout("model.", ("model.fc.weight", "model.fc.bias")),
    "moco": _Layout(
        "module.encoder_q.",
        ("module.encoder_q.fc.", "module.encoder_k.", "module.queue", "module.queue_ptr"),
    ),
    "swav": _Layout("module.", ("module.projection_head.", "module.prototypes.", "module.fc.")),
    "vissl": _Layout("_feature_blocks."),
}
FORMATS: tuple[str, ...] = tuple(_LAYOUTS)


@dataclass(frozen=True)
class CheckpointReport:
    """What a checkpoint holds, measured against torchvision's ResNet-50 backbone.

    `state` has canonical names: every backbone tensor found (wrong shapes included, so callers
    can explain them), plus zero batch counters where the file had none. Use it only when `ok`.
    """

    path: str
    format: str
    tensors: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    state: dict[str, torch.Tensor] = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the file maps onto the backbone exactly."""
        return not self.missing and not self.unexpected


def read_checkpoint(path: str | Path, trust: bool = False) -> CheckpointReport:
    """Load `path` and report how it maps onto the backbone; key mismatches are reported, not raised."""
    entries = _unwrap(_load(Path(path), trust))
    tensors = sum(isinstance(value, torch.Tensor) for value in entries.values())
    fmt = _detect(entries)
    if fmt == UNKNOWN:
        backbone: dict[str, torch.Tensor] = {}
        foreign = list(entries)
    else:
        backbone, foreign = _split(entries, _LAYOUTS[fmt])
    state, missing = _complete(backbone)
    return CheckpointReport(str(path), fmt, tensors, tuple(missing), tuple(foreign), state)


def load_backbone(path: str | Path, trust: bool = False) -> CheckpointReport:
    """Like read_checkpoint, but refuse any file that is not exactly a 1x ResNet-50 backbone."""
    report = read_checkpoint(path, trust)
    if report.ok:
        return report
    expected = backbone_shapes()["conv1.weight"][0]
    conv1 = report.state.get("conv1.weight")
    if conv1 is not None and conv1.ndim == 4 and conv1.shape[0] != expected:
        raise CheckpointMismatch(
            f"{report.path}: is a width-multiplied ResNet-50 (conv1 has {conv1.shape[0]} output channels, "
            f"e.g. SwAV/VISSL/SimCLR RN50w2); ccbench scores 1x ResNet-50 trunks only: use the 1x release"
        )
    raise CheckpointMismatch(_mismatch_message(report))


def _load(path: Path, trust: bool) -> Any:
    """torch.load with the failure modes turned into one-line errors naming the file."""
    if not path.is_file():
        raise CheckpointNotFound(f"{path}: no checkpoint file here; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as error:
        if trust or not _REFUSED_OBJECT.search(str(error)):
            raise _unreadable(path, error) from error
        raise UnsafeCheckpoint(
            f"{path}: holds pickled Python objects{_pickled_global(error)} that a weights-only load refuses; "
            f"pass --trust-checkpoint only if you trust this file"
        ) from error
    except Exception as error:  # torch.load's failures on bad bytes are undocumented: EOF, Key, Runtime...
        raise _unreadable(path, error) from error


def _unreadable(path: Path, error: Exception) -> CheckpointUnreadable:
    """The one-line error for bytes torch cannot read, keeping torch's reason as the cause."""
    return CheckpointUnreadable(
        f"{path}: not a readable torch checkpoint (truncated or corrupt? {type(error).__name__}: "
        f"{_reason(error)}); re-download or re-save it"
    )


def _reason(error: BaseException) -> str:
    """Torch's own one-line reason: the weights-only unpickler's detail, else the first line."""
    text = str(error)
    _, marker, detail = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (detail if marker else text).splitlines() if line.strip()]
    return lines[0] if lines else "no detail"


def _pickled_global(error: BaseException) -> str:
    """' (e.g. argparse.Namespace)' naming the refused type when torch says which, else ''."""
    found = re.search(r"GLOBAL (\S+)", str(error))
    return f" (e.g. {found.group(1)})" if found else ""


def _unwrap(obj: Any) -> dict[str, Any]:
    """The dict that holds the weights: VISSL's trunk, a `state_dict` wrapper, or the file itself."""
    if not isinstance(obj, Mapping):
        return {}
    inner: Any = obj
    for key in _VISSL_TRUNK:
        inner = inner.get(key) if isinstance(inner, Mapping) else None
    if not isinstance(inner, Mapping):
        wrapped = obj.get("state_dict")
        inner = wrapped if isinstance(wrapped, Mapping) else obj
    return {str(key): value for key, value in inner.items()}


def _detect(entries: Mapping[str, Any]) -> str:
    """The format whose stem conv key the file holds, or UNKNOWN."""
    for fmt, layout in _LAYOUTS.items():
        if layout.stem_key in entries:
            return fmt
    return UNKNOWN


def _split(entries: Mapping[str, Any], layout: _Layout) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Backbone tensors under torchvision names, and the leftover keys in the file's own spelling."""
    shapes = backbone_shapes()
    backbone: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in entries.items():
        if layout.is_head(key):
            continue
        name = layout.rename(key)
        if name in shapes and isinstance(value, torch.Tensor):
            backbone[name] = value
        else:
            foreign.append(key)
    return backbone, foreign


def _complete(backbone: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state in torchvision's key order with absent batch counters zero-filled (as torchvision's
    own loader does), and the keys that are absent or misshapen."""
    state: dict[str, torch.Tensor] = {}
    missing = []
    for name, shape in backbone_shapes().items():
        value = backbone.get(name)
        if value is None and is_counter(name):
            value = torch.zeros(shape, dtype=torch.long)
        elif value is None:
            missing.append(name)
            continue
        elif tuple(value.shape) != shape:
            missing.append(f"{name} (expected {list(shape)}, got {list(value.shape)})")
        state[name] = value
    return state, missing


def _preview(keys: tuple[str, ...]) -> str:
    """The first few keys and how many more, so a message stays one readable line."""
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def _mismatch_message(report: CheckpointReport) -> str:
    """One line: which layout was seen, what is missing, what is foreign, and the fix."""
    if report.format == UNKNOWN:
        stems = ", ".join(layout.stem_key for layout in _LAYOUTS.values())
        seen = f"layout not recognised (no stem key among {stems})"
    else:
        seen = f"{report.format} layout does not match torchvision resnet50"
    parts = [f"{report.path}: {seen}"]
    if report.missing:
        parts.append(f"{len(report.missing)} missing: {_preview(report.missing)}")
    if report.unexpected:
        parts.append(f"{len(report.unexpected)} foreign: {_preview(report.unexpected)}")
    parts.append(f"fix: save a 1x ResNet-50 backbone in one of the layouts {', '.join(FORMATS)}")
    return "; ".join(parts)
