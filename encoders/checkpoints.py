"""Read a ResNet-50 checkpoint as it was released and map it strictly onto torchvision names.

Loading is strict because a lenient load, one that skips the names it does not know, loads no
tensor at all from a file whose key prefixes it does not expect, and leaves a random encoder
without a word. So a file is searched as candidates: a container (the file's top level, a wrapper
key under it, or VISSL's trunk path) times a layout (a key prefix, and the heads that layout keeps
beside the backbone). A candidate fits when stripping its prefix yields every backbone tensor with
its shape. Where several fit, a documented default decides (DINO's teacher, MoCo's query encoder,
solo-learn's online backbone) or the caller must name the container (`key`) and/or the `prefix`.
"""

from __future__ import annotations

import pickle
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from encoders.canonical import backbone_shapes, is_counter
from encoders.errors import (
    AmbiguousCheckpoint,
    CheckpointMismatch,
    CheckpointNotFound,
    CheckpointUnreadable,
    EncoderError,
    NonFiniteWeights,
    UnsafeCheckpoint,
)

TOP = "."  # the container key of the file's own top level
UNKNOWN = "unknown"
AMBIGUOUS = "ambiguous"
_SHOWN = 8
_STEM = "conv1.weight"
# Containers tried besides the top level, nested paths joined by "/": VISSL's trunk, then the wrapper
# keys releases use (MoCo, SimSiam, Lightning: state_dict; Barlow Twins, VICReg, torchvision's detection
# references: model; DINO: teacher and student; network as issue 10 lists it).
_WRAPPERS = ("classy_state_dict/base_model/model/trunk", "state_dict", "model", "network", "teacher", "student")
# What torch's weights-only unpickler says when it refuses an object (as opposed to bad bytes).
_REFUSED_OBJECT = re.compile(r"GLOBAL|allowlisted|unrecognized function")


@dataclass(frozen=True)
class _Layout:
    """How one format stores the backbone: a key prefix to strip, and the head keys to drop.

    A head entry ending in "." drops every key under it; any other entry drops that exact key.
    """

    prefix: str
    heads: tuple[str, ...] = ()

    def is_head(self, key: str) -> bool:
        """Whether `key` is one of the format's known non-backbone entries."""
        return any(key.startswith(head) if head.endswith(".") else key == head for head in self.heads)

    def rename(self, key: str) -> str | None:
        """The torchvision name for `key`, or None when the key lies outside the backbone prefix."""
        return key[len(self.prefix) :] if key.startswith(self.prefix) else None


# What solo-learn keeps beside its backbone: the online classifier, projector, predictor, SwAV
# prototypes, DINO head, their momentum copies and the queue buffers of its MoCo/NNCLR-style methods.
_SOLO_HEADS = (
    "classifier.",
    "projector.",
    "predictor.",
    "prototypes.",
    "head.",
    "momentum_projector.",
    "momentum_classifier.",
    "momentum_head.",
    "queue",
    "queue_y",
    "queue_ptr",
    "queue_index",
)


def _solo(module: str, twin: str, root: str = "") -> _Layout:
    """A backbone at `root + module` beside solo-learn's heads and its momentum `twin`; its fc is a head too."""
    return _Layout(root + module, (root + module + "fc.", root + twin, *(root + head for head in _SOLO_HEADS)))


# By format (who writes it): torchvision (torchvision; the Barlow Twins, DINO and VICReg backbone
# releases; the BYOL and SimCLR v1 conversions), virb (ViRB's converted files), moco and moco_key (MoCo
# v1/v2's query and key encoders), swav (the SwAV zoo, any DDP-saved torchvision ResNet), vissl
# (VISSL/PIRL trunks), simsiam (SimSiam), ddp_backbone (DINO, Barlow Twins and VICReg full checkpoints),
# backbone and momentum_backbone (solo-learn's online and momentum networks), encoder and
# momentum_encoder (the same before solo-learn's 2021 rename), lightning (a Lightning module holding its
# network as `model`), detection (torchvision's detection models: the FPN, RPN and ROI heads dropped).
_LAYOUTS: dict[str, _Layout] = {
    "torchvision": _Layout("", ("fc.weight", "fc.bias")),
    "virb": _Layout("model.", ("model.fc.weight", "model.fc.bias")),
    "moco": _Layout(
        "module.encoder_q.",
        ("module.encoder_q.fc.", "module.encoder_k.", "module.queue", "module.queue_ptr"),
    ),
    "swav": _Layout("module.", ("module.projection_head.", "module.prototypes.", "module.fc.")),
    "vissl": _Layout("_feature_blocks."),
    "moco_key": _Layout(
        "module.encoder_k.",
        ("module.encoder_k.fc.", "module.encoder_q.", "module.queue", "module.queue_ptr"),
    ),
    "simsiam": _Layout("module.encoder.", ("module.encoder.fc.", "module.predictor.")),
    "ddp_backbone": _Layout("module.backbone.", ("module.head.", "module.projector.", "module.bn.")),
    "backbone": _solo("backbone.", "momentum_backbone."),
    "momentum_backbone": _solo("momentum_backbone.", "backbone."),
    "encoder": _solo("encoder.", "momentum_encoder."),
    "momentum_encoder": _solo("momentum_encoder.", "encoder."),
    "lightning": _solo("backbone.", "momentum_backbone.", root="model."),
    "detection": _Layout("backbone.body.", ("backbone.fpn.", "rpn.", "roi_heads.", "head.")),
}
FORMATS: tuple[str, ...] = tuple(_LAYOUTS)
_FIX = f"save a 1x ResNet-50 backbone in one of the layouts {', '.join(FORMATS)}"
# Where a copy fits beside its original, the original is the documented default: DINO evaluates the
# teacher (its released backbone is the teacher's), MoCo transfers the query encoder, and solo-learn
# evaluates the online backbone, not the momentum one.
_KEY_DEFAULTS = {"student": "teacher"}
_FORMAT_DEFAULTS = {"moco_key": "moco", "momentum_backbone": "backbone", "momentum_encoder": "encoder"}


@dataclass(frozen=True)
class Candidate:
    """A place where a whole backbone sits: a container key (TOP for the top level) and a layout."""

    key: str
    prefix: str
    format: str

    def flags(self) -> str:
        """The command-line options that choose this candidate."""
        return _flags(self.key, self.prefix)


@dataclass(frozen=True)
class CheckpointReport:
    """What a checkpoint holds, measured against torchvision's ResNet-50 backbone.

    `key` and `prefix` say where the reported layout sits (None when it is unknown or ambiguous);
    `candidates` lists every place that holds a whole backbone. `state` has canonical names: every
    backbone tensor found (wrong shapes included, so callers can explain them), plus zero batch
    counters where the file had none. Use it only when `ok`; otherwise `error` is the one-line
    refusal that loading raises.
    """

    path: str
    format: str
    key: str | None
    prefix: str | None
    tensors: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    nonfinite: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    state: dict[str, torch.Tensor] = field(repr=False, compare=False)
    error: EncoderError | None = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the file holds exactly one finite backbone, mapped onto torchvision's keys."""
        return self.error is None


@dataclass(frozen=True)
class _Trial:
    """One candidate measured: the tensors in its container, how many backbone names it found (of any
    shape), the canonical state, and what is missing or foreign."""

    candidate: Candidate
    tensors: int
    found: int
    state: dict[str, torch.Tensor]
    missing: tuple[str, ...]
    foreign: tuple[str, ...]


def read_checkpoint(
    path: str | Path, trust: bool = False, key: str | None = None, prefix: str | None = None
) -> CheckpointReport:
    """Load `path` and report how it maps onto the backbone; mismatches are reported, not raised.

    `key` (a container: a wrapper key, "a/b" when nested, TOP for the top level) and `prefix` narrow
    the search; values that name nothing in the file raise CheckpointMismatch.
    """
    path = Path(path)
    obj = _load(path, trust)
    everywhere = _containers(obj)
    searched = everywhere if key is None else {key: _container(path, obj, key)}
    stems = _stems({**everywhere, **searched})
    layouts = _LAYOUTS if prefix is None else _with_prefix(path, prefix, stems)
    trials = [_try(name, entries, fmt, layout) for name, entries in searched.items() for fmt, layout in layouts.items()]
    fits = [trial for trial in trials if not trial.missing]
    candidates = tuple(trial.candidate for trial in fits)
    chosen = _without_defaulted(fits)
    if len(chosen) > 1:
        listing = ", ".join(f"{trial.candidate.flags()} ({trial.candidate.format})" for trial in chosen)
        error = AmbiguousCheckpoint(
            f"{path}: {len(chosen)} layouts hold a whole backbone ({listing}); "
            f"fix: pass --key and/or --prefix to say which"
        )
        return CheckpointReport(str(path), AMBIGUOUS, None, None, chosen[0].tensors, (), (), (), candidates, {}, error)
    trial = chosen[0] if chosen else max(trials, key=lambda trial: trial.found)
    if not trial.found:
        state, missing = _complete({})
        tried = ", ".join(shlex.quote(layout.prefix) for layout in layouts.values())
        error = CheckpointMismatch(
            f"{path}: layout not recognised (no ResNet-50 tensor under the prefixes {tried} in "
            f"{', '.join(searched)}); {stems}; fix: {_FIX}"
        )
        return CheckpointReport(
            str(path),
            UNKNOWN,
            trial.candidate.key,
            None,
            trial.tensors,
            tuple(missing),
            tuple(searched[trial.candidate.key]),
            (),
            candidates,
            state,
            error,
        )
    nonfinite = _nonfinite(trial.state)
    selected = key is not None or prefix is not None
    error = _refusal(path, trial, nonfinite, stems if selected else None)
    return CheckpointReport(
        str(path),
        trial.candidate.format,
        trial.candidate.key,
        trial.candidate.prefix,
        trial.tensors,
        trial.missing,
        trial.foreign,
        nonfinite,
        candidates,
        trial.state,
        error,
    )


def load_backbone(
    path: str | Path, trust: bool = False, key: str | None = None, prefix: str | None = None
) -> CheckpointReport:
    """Like read_checkpoint, but refuse any file that is not exactly one finite 1x ResNet-50 backbone."""
    report = read_checkpoint(path, trust, key, prefix)
    if report.error is not None:
        raise report.error
    return report


def _load(path: Path, trust: bool) -> Any:
    """The file's object: a safetensors file's flat tensor dict, or torch.load's result, with the
    failure modes turned into one-line errors naming the file."""
    if not path.is_file():
        raise CheckpointNotFound(f"{path}: no checkpoint file here; check the path")
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
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


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file holds tensors and no code, so it needs no trust; bad bytes are one line."""
    try:
        return load_file(path, device="cpu")
    except SafetensorError as error:
        raise CheckpointUnreadable(
            f"{path}: not a readable safetensors file (truncated or corrupt? {_reason(error)}); "
            f"re-download or re-save it"
        ) from error


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


def _lookup(obj: Any, key: str) -> Any:
    """The value at container `key` ("a/b" when nested, TOP for `obj` itself), or None."""
    if key == TOP:
        return obj
    for part in key.split("/"):
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _entries(container: Any) -> dict[str, Any]:
    """A container's entries under string keys; anything but a dict holds none."""
    return {str(name): value for name, value in container.items()} if isinstance(container, Mapping) else {}


def _containers(obj: Any) -> dict[str, dict[str, Any]]:
    """Every known container the file has, wrappers first, then its top level."""
    wrapped = {key: _lookup(obj, key) for key in _WRAPPERS}
    return {
        **{key: _entries(value) for key, value in wrapped.items() if isinstance(value, Mapping)},
        TOP: _entries(obj),
    }


def _container(path: Path, obj: Any, key: str) -> dict[str, Any]:
    """The entries of the container the caller named, or a one-line refusal listing the dicts there are."""
    container = _lookup(obj, key)
    if isinstance(container, Mapping):
        return _entries(container)
    dicts = list(_containers(obj))
    dicts += [name for name, value in _entries(obj).items() if isinstance(value, Mapping) and name not in dicts]
    raise CheckpointMismatch(
        f"{path}: --key {shlex.quote(key)} names no dict in this file; dicts here: {', '.join(dicts)}; "
        f"fix: pass one of them (a/b when nested, {TOP} for the top level), or leave --key out"
    )


def _with_prefix(path: Path, prefix: str, stems: str) -> dict[str, _Layout]:
    """The layout with the prefix the caller named, or a one-line refusal listing the known ones."""
    layouts = {fmt: layout for fmt, layout in _LAYOUTS.items() if layout.prefix == prefix}
    if layouts:
        return layouts
    known = ", ".join(shlex.quote(layout.prefix) for layout in _LAYOUTS.values())
    raise CheckpointMismatch(
        f"{path}: --prefix {shlex.quote(prefix)} is not a known layout prefix; {stems}; "
        f"fix: pass one of {known}, or leave --prefix out"
    )


def _flags(key: str, prefix: str) -> str:
    """`--key K --prefix P`, quoted for a shell (the empty prefix reads '')."""
    return f"--key {shlex.quote(key)} --prefix {shlex.quote(prefix)}"


def _stems(containers: Mapping[str, Mapping[str, Any]]) -> str:
    """Where the file's stem convs (a conv1.weight over 3 input channels) sit, as the options naming them,
    so a refusal can point at the container and prefix that exist."""
    places = [
        _flags(key, name[: -len(_STEM)])
        for key, entries in containers.items()
        for name, value in entries.items()
        if name.endswith(_STEM) and isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[1] == 3
    ]
    return f"stem convs at {', '.join(places)}" if places else "no stem conv (a conv1.weight over 3 channels) anywhere"


def _try(key: str, entries: Mapping[str, Any], fmt: str, layout: _Layout) -> _Trial:
    """Measure one candidate: its backbone tensors, what is missing and what is foreign."""
    backbone, foreign = _split(entries, layout)
    state, missing = _complete(backbone)
    tensors = sum(isinstance(value, torch.Tensor) for value in entries.values())
    return _Trial(Candidate(key, layout.prefix, fmt), tensors, len(backbone), state, tuple(missing), tuple(foreign))


def _without_defaulted(fits: list[_Trial]) -> list[_Trial]:
    """The fitting candidates left once each copy whose documented original fits beside it is set aside."""
    present = {(trial.candidate.key, trial.candidate.format) for trial in fits}
    return [
        trial
        for trial in fits
        if (_KEY_DEFAULTS.get(trial.candidate.key), trial.candidate.format) not in present
        and (trial.candidate.key, _FORMAT_DEFAULTS.get(trial.candidate.format)) not in present
    ]


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


def _nonfinite(state: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """The float tensors holding NaN or Inf, which would make every feature NaN: a diverged run or a bad export."""
    return tuple(
        name for name, value in state.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())
    )


def _refusal(path: Path, trial: _Trial, nonfinite: tuple[str, ...], stems: str | None) -> EncoderError | None:
    """The one-line error loading this candidate meets, or None when it is one finite 1x backbone.

    `stems` (where the file's stem convs are) is added when the caller chose the key or prefix.
    """
    expected = backbone_shapes()["conv1.weight"][0]
    conv1 = trial.state.get("conv1.weight")
    if conv1 is not None and conv1.ndim == 4 and conv1.shape[0] != expected:
        return CheckpointMismatch(
            f"{path}: is a width-multiplied ResNet-50 (conv1 has {conv1.shape[0]} output channels, "
            f"e.g. SwAV/VISSL/SimCLR RN50w2); ccbench scores 1x ResNet-50 trunks only: use the 1x release"
        )
    candidate = trial.candidate
    if trial.missing or trial.foreign:
        parts = [f"{path}: {candidate.format} layout ({candidate.flags()}) does not match torchvision resnet50"]
        if trial.missing:
            parts.append(f"{len(trial.missing)} missing: {_preview(trial.missing)}")
        if trial.foreign:
            parts.append(f"{len(trial.foreign)} foreign: {_preview(trial.foreign)}")
        if stems:
            parts.append(stems)
        return CheckpointMismatch("; ".join(parts + [f"fix: {_FIX}"]))
    if nonfinite:
        value = trial.state[nonfinite[0]]
        kind = "NaN" if bool(torch.isnan(value).any()) else "Inf"
        where = candidate.prefix + nonfinite[0] + ("" if candidate.key == TOP else f" in {candidate.key}")
        more = f" (and {len(nonfinite) - 1} more backbone tensors)" if len(nonfinite) > 1 else ""
        return NonFiniteWeights(
            f"{path}: {where} holds {kind}{more}, so its features would too; fix: use a "
            f"checkpoint from before training diverged, or re-download or re-convert this one"
        )
    return None


def _preview(keys: tuple[str, ...]) -> str:
    """The first few keys and how many more, so a message stays one readable line."""
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")
