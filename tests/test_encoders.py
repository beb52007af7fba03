"""encoders/: every checkpoint layout written for real, strict refusals, trunk blocks, preprocessing."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import resnet18, resnet50

from encoders import (
    BLOCK_NAMES,
    BLOCKS,
    FORMATS,
    TOP,
    AmbiguousCheckpoint,
    CheckpointMismatch,
    CheckpointNotFound,
    CheckpointUnreadable,
    EncoderError,
    NonFiniteWeights,
    Preprocessing,
    ResNet50Trunk,
    UnknownEncoder,
    UnsafeCheckpoint,
    block_shape,
    fingerprint,
    get_block,
    load_backbone,
    load_encoder,
    read_checkpoint,
)
from encoders.registry import default_name
from harness.cli import main

State = dict[str, torch.Tensor]
SEED = 0
CANONICAL_TENSORS = 318  # torchvision resnet50's 320 state entries without fc


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """32-64 px forwards gain nothing from threads, and on a busy 2-core box OpenMP spinning makes
    two threads up to 50x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference() -> State:
    """One seeded random ResNet-50, exactly as `random:SEED` builds it; every layout below holds it."""
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        return resnet50(weights=None).state_dict()


def _backbone(state: State) -> State:
    return {key: value for key, value in state.items() if not key.startswith("fc.")}


def _prefixed(prefix: str, state: State) -> State:
    return {prefix + key: value for key, value in state.items()}


def _twin(sd: State) -> State:
    """A momentum, key-encoder or student copy: other weights in conv1 only, so the copy shares every other
    tensor with the original and torch.save stores them once, keeping files small."""
    return {**sd, "conv1.weight": sd["conv1.weight"] + 1}


def _heads(prefix: str, *names: str) -> State:
    """Head tensors: dropped by name whatever their size, so kept tiny."""
    return {prefix + name: torch.zeros(2) for name in names}


OPTIMIZER = {"state": {}, "param_groups": [{"lr": 0.05, "params": [0, 1]}]}


def torchvision_full(sd: State) -> Any:
    return dict(sd)


def torchvision_bare(sd: State) -> Any:
    """Barlow/DINO/BYOL-converted style: no fc, no num_batches_tracked."""
    return {key: value for key, value in _backbone(sd).items() if not key.endswith("num_batches_tracked")}


def virb(sd: State) -> Any:
    return _prefixed("model.", sd)


def _moco(sd: State, fc: State) -> Any:
    query = _prefixed("module.encoder_q.", {**_backbone(sd), **fc})
    key = _prefixed("module.encoder_k.", {**_backbone(_twin(sd)), **fc})
    queue = {"module.queue": torch.randn(128, 16), "module.queue_ptr": torch.zeros(1, dtype=torch.long)}
    return {"epoch": 200, "arch": "resnet50", "state_dict": {**query, **key, **queue}}


def moco_v1(sd: State) -> Any:
    return _moco(sd, {"fc.weight": torch.randn(128, 2048), "fc.bias": torch.zeros(128)})


def moco_v2(sd: State) -> Any:
    head = {
        "fc.0.weight": torch.zeros(2048, 2048),
        "fc.0.bias": torch.zeros(2048),
        "fc.2.weight": torch.zeros(128, 2048),
        "fc.2.bias": torch.zeros(128),
    }
    return _moco(sd, head)


def swav(sd: State) -> Any:
    head = {
        "projection_head.0.weight": torch.zeros(2048, 2048),
        "projection_head.0.bias": torch.zeros(2048),
        "projection_head.1.weight": torch.ones(2048),
        "projection_head.1.bias": torch.zeros(2048),
        "projection_head.1.running_mean": torch.zeros(2048),
        "projection_head.1.running_var": torch.ones(2048),
        "projection_head.1.num_batches_tracked": torch.zeros((), dtype=torch.long),
        "projection_head.3.weight": torch.zeros(128, 2048),
        "projection_head.3.bias": torch.zeros(128),
        "prototypes.weight": torch.randn(3000, 128),
    }
    return _prefixed("module.", {**_backbone(sd), **head})


def vissl(sd: State) -> Any:
    heads = {"0.clf.0.weight": torch.zeros(128, 2048), "1.clf.0.weight": torch.zeros(128, 2048)}
    model = {"trunk": _prefixed("_feature_blocks.", _backbone(sd)), "heads": heads}
    return {
        "phase_idx": 799,
        "iteration": 1000,
        "loss": {"nce_average.memory": torch.zeros(16, 128)},
        "classy_state_dict": {"base_model": {"model": model, "meta": {}}},
    }


def simclr_v1(sd: State) -> Any:
    """tonylins/simclr-converter: torchvision names under `state_dict`."""
    return {"state_dict": dict(sd)}


def simsiam(sd: State) -> Any:
    """SimSiam: DDP `module.encoder.` whose fc is the projector, beside `module.predictor.`."""
    projector = _heads("fc.", "0.weight", "1.weight", "1.bias", "6.weight")
    encoder = _prefixed("module.encoder.", {**_backbone(sd), **projector})
    return {
        "epoch": 100,
        "arch": "resnet50",
        "optimizer": OPTIMIZER,
        "state_dict": {**encoder, **_heads("module.predictor.", "0.weight", "3.weight", "3.bias")},
    }


def dino(sd: State) -> Any:
    """DINO's full checkpoint: DDP teacher and student networks (the student other weights) with their heads."""
    head = ("mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.4.weight", "last_layer.weight_g", "last_layer.weight_v")
    teacher, student = (
        {**_prefixed("module.backbone.", _backbone(state)), **_heads("module.head.", *head)}
        for state in (sd, _twin(sd))
    )
    return {"teacher": teacher, "student": student, "epoch": 100, "dino_loss": {"center": torch.zeros(1, 8)}}


def barlow_full(sd: State) -> Any:
    """Barlow Twins' checkpoint.pth: `model` holds module.backbone., module.projector., module.bn."""
    model = {
        **_prefixed("module.backbone.", _backbone(sd)),
        **_heads("module.projector.", "0.weight", "1.weight", "6.weight"),
        **_heads("module.bn.", "running_mean", "running_var"),
    }
    return {"epoch": 1000, "model": model, "optimizer": OPTIMIZER}


def solo_byol(sd: State) -> Any:
    """solo-learn BYOL as Lightning saves it: online `backbone.`, its momentum copy, classifier and heads."""
    state = {
        **_prefixed("backbone.", _backbone(sd)),
        **_prefixed("momentum_backbone.", _backbone(_twin(sd))),
        **_heads("classifier.", "weight", "bias"),
        **_heads("projector.", "0.weight"),
        **_heads("momentum_projector.", "0.weight"),
        **_heads("predictor.", "0.weight"),
    }
    return {"epoch": 399, "global_step": 50000, "pytorch-lightning_version": "1.9.5", "state_dict": state}


def solo_legacy(sd: State) -> Any:
    """solo-learn MoCo V2+ before its 2021 rename: `encoder.` and `momentum_encoder.`, with the queue."""
    state = {
        **_prefixed("encoder.", _backbone(sd)),
        **_prefixed("momentum_encoder.", _backbone(sd)),
        **_heads("classifier.", "weight", "bias"),
        **_heads("projector.", "0.weight"),
        **_heads("momentum_projector.", "0.weight"),
        "queue": torch.zeros(2, 8, 4),
        "queue_ptr": torch.zeros(1, dtype=torch.long),
    }
    return {"epoch": 399, "state_dict": state}


def lightning(sd: State) -> Any:
    """A Lightning module holding a torchvision-named network as `model`, with its fc and a head."""
    model = {**_prefixed("backbone.", dict(sd)), **_heads("head.", "weight")}
    return {"epoch": 9, "global_step": 900, "state_dict": _prefixed("model.", model)}


def detection(sd: State) -> Any:
    """torchvision's detection references: `model` of a Faster R-CNN, whose frozen BatchNorms have no counters."""
    body = {key: value for key, value in _backbone(sd).items() if not key.endswith("num_batches_tracked")}
    model = {
        **_prefixed("backbone.body.", body),
        **_heads("backbone.fpn.", "inner_blocks.0.0.weight"),
        **_heads("rpn.", "head.conv.0.0.weight"),
        **_heads("roi_heads.", "box_head.fc6.weight"),
    }
    return {"model": model, "optimizer": OPTIMIZER, "epoch": 25}


def network(sd: State) -> Any:
    return {"network": dict(sd)}


def solo_flat(sd: State) -> Any:
    return {**_prefixed("backbone.", _backbone(sd)), **_heads("classifier.", "weight", "bias")}


class Written(NamedTuple):
    """A layout as written: its writer, the format and container it is read as, and the tensors there."""

    writer: Callable[[State], Any]
    format: str
    key: str
    tensors: int
    suffix: str = ".pth.tar"


LAYOUTS: dict[str, Written] = {
    "torchvision": Written(torchvision_full, "torchvision", TOP, 320),
    "torchvision_bare": Written(torchvision_bare, "torchvision", TOP, 265),
    "virb": Written(virb, "virb", TOP, 320),
    "moco_v1": Written(moco_v1, "moco", "state_dict", 2 * 320 + 2),
    "moco_v2": Written(moco_v2, "moco", "state_dict", 2 * 322 + 2),
    "swav": Written(swav, "swav", TOP, 318 + 10),
    "vissl": Written(vissl, "vissl", "classy_state_dict/base_model/model/trunk", 318),
    "simclr_v1": Written(simclr_v1, "torchvision", "state_dict", 320),
    "simsiam": Written(simsiam, "simsiam", "state_dict", 318 + 7),
    "dino": Written(dino, "ddp_backbone", "teacher", 318 + 6),
    "barlow_full": Written(barlow_full, "ddp_backbone", "model", 318 + 5),
    "solo_byol": Written(solo_byol, "backbone", "state_dict", 2 * 318 + 5),
    "solo_legacy": Written(solo_legacy, "encoder", "state_dict", 2 * 318 + 6),
    "lightning": Written(lightning, "lightning", "state_dict", 320 + 1),
    "detection": Written(detection, "detection", "model", 265 + 3),
    "network": Written(network, "torchvision", "network", 320),
    "torchvision_safetensors": Written(torchvision_full, "torchvision", TOP, 320, ".safetensors"),
    "solo_safetensors": Written(solo_flat, "backbone", TOP, 318 + 2, ".safetensors"),
}


@pytest.fixture(scope="module")
def checkpoints(reference: State, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for layout, written in LAYOUTS.items():
        paths[layout] = folder / f"{layout}{written.suffix}"
        if written.suffix == ".safetensors":
            save_file(written.writer(reference), paths[layout])
        else:
            torch.save(written.writer(reference), paths[layout])
    return paths


@pytest.fixture(scope="module")
def twin_fingerprint(reference: State) -> str:
    return fingerprint(_twin(reference))


@pytest.fixture(scope="module")
def reference_features(reference: State) -> dict[str, torch.Tensor]:
    trunk = ResNet50Trunk(_backbone(reference))
    return trunk(_image(32, 32), BLOCK_NAMES)


def _image(height: int, width: int) -> torch.Tensor:
    return torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(1))


def _save(tmp_path: Path, obj: Any, name: str = "ckpt.pth") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


# ---------------------------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_loads_the_same_weights(
    layout: str, checkpoints: dict[str, Path], reference: State, reference_features: dict[str, torch.Tensor]
) -> None:
    written = LAYOUTS[layout]
    report = load_backbone(checkpoints[layout])
    assert (report.format, report.key, report.tensors, report.ok) == (
        written.format,
        written.key,
        written.tensors,
        True,
    )
    assert list(report.state) == list(_backbone(reference))
    for key, value in report.state.items():
        assert torch.equal(value, reference[key]) or key.endswith("num_batches_tracked"), key
    assert fingerprint(report.state) == fingerprint(reference)
    features = ResNet50Trunk(report.state)(_image(32, 32), BLOCK_NAMES)
    for block in BLOCK_NAMES:
        assert torch.equal(features[block], reference_features[block]), block


def test_formats_are_the_documented_ones() -> None:
    assert FORMATS == (
        "torchvision",
        "virb",
        "moco",
        "swav",
        "vissl",
        "moco_key",
        "simsiam",
        "ddp_backbone",
        "backbone",
        "momentum_backbone",
        "encoder",
        "momentum_encoder",
        "lightning",
        "detection",
    )


@pytest.mark.parametrize(
    "layout, key, prefix, fmt",
    [
        ("dino", "student", None, "ddp_backbone"),
        ("moco_v2", None, "module.encoder_k.", "moco_key"),
        ("solo_byol", None, "momentum_backbone.", "momentum_backbone"),
    ],
)
def test_a_copy_beside_its_original_loads_only_when_named(
    layout: str,
    key: str | None,
    prefix: str | None,
    fmt: str,
    checkpoints: dict[str, Path],
    reference: State,
    twin_fingerprint: str,
) -> None:
    default = load_backbone(checkpoints[layout])
    assert len(default.candidates) == 2 and fingerprint(default.state) == fingerprint(reference)
    chosen = load_backbone(checkpoints[layout], key=key, prefix=prefix)
    assert chosen.format == fmt and fingerprint(chosen.state) == twin_fingerprint


def test_two_containers_holding_a_backbone_are_refused_until_one_is_named(
    tmp_path: Path, reference: State, twin_fingerprint: str, capsys: pytest.CaptureFixture
) -> None:
    path = _save(tmp_path, {"state_dict": dict(reference), "model": _twin(reference)})
    report = read_checkpoint(path)
    assert (report.format, report.key, report.prefix, report.ok) == ("ambiguous", None, None, False)
    assert [c.flags() for c in report.candidates] == ["--key state_dict --prefix ''", "--key model --prefix ''"]
    with pytest.raises(AmbiguousCheckpoint) as caught:
        load_backbone(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 2 layouts hold a whole backbone") and "\n" not in message
    assert "--key model --prefix '' (torchvision)" in message and "fix: pass --key and/or --prefix" in message
    assert fingerprint(load_backbone(path, key="model").state) == twin_fingerprint
    assert main(["inspect", str(path), "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["candidates"][1] == {"key": "model", "prefix": "", "format": "torchvision"}
    assert err == f"ccbench: {message}\n"


def test_a_key_or_prefix_that_fits_nothing_names_what_is_there(checkpoints: dict[str, Path]) -> None:
    dino_path, moco_path = checkpoints["dino"], checkpoints["moco_v2"]
    with pytest.raises(CheckpointMismatch) as caught:
        load_backbone(dino_path, key="state_dict")
    assert str(caught.value).startswith(
        f"{dino_path}: --key state_dict names no dict in this file; "
        f"dicts here: teacher, student, ., dino_loss; fix: pass one of them"
    )
    with pytest.raises(CheckpointMismatch) as caught:
        load_backbone(moco_path, prefix="backbone.")
    message = str(caught.value)
    assert message.startswith(
        f"{moco_path}: layout not recognised (no ResNet-50 tensor under the prefixes backbone. "
        f"in state_dict, .); stem convs at --key state_dict --prefix module.encoder_q., "
        f"--key state_dict --prefix module.encoder_k.; fix: "
    )
    with pytest.raises(
        CheckpointMismatch,
        match=r"--prefix online_encoder\.net\. is not a known layout prefix; "
        r"stem convs at --key teacher --prefix module\.backbone\., "
        r".*fix: pass one of '', ",
    ):
        load_backbone(dino_path, prefix="online_encoder.net.")
    for error in (CheckpointMismatch, EncoderError):
        with pytest.raises(error, match="dicts here: teacher"):
            load_backbone(dino_path, key="teacher/module")


@pytest.fixture(scope="module")
def broken(reference: State, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SwAV-layout file whose weights went NaN in one tensor and Inf in a later one."""
    state = _backbone(reference)
    for name, bad in (("layer3.1.bn2.running_var", float("nan")), ("layer4.0.conv2.weight", float("inf"))):
        state[name] = state[name].clone()
        state[name].view(-1)[5] = bad
    path = tmp_path_factory.mktemp("broken") / "diverged.pth"
    torch.save(_prefixed("module.", state), path)
    return path


def test_nonfinite_weights_are_not_loadable(broken: Path) -> None:
    report = read_checkpoint(broken)
    assert report.nonfinite == ("layer3.1.bn2.running_var", "layer4.0.conv2.weight")
    assert (report.format, report.missing, report.unexpected, report.ok) == ("swav", (), (), False)
    with pytest.raises(NonFiniteWeights) as caught:
        load_backbone(broken)
    assert str(caught.value).startswith(
        f"{broken}: module.layer3.1.bn2.running_var holds NaN (and 1 more backbone "
        f"tensors), so its features would too; fix: "
    )
    with pytest.raises(NonFiniteWeights, match="diverged.pth"):
        load_encoder(str(broken))


def test_inspect_gives_one_reason_line_on_stderr(
    broken: Path, checkpoints: dict[str, Path], twin_fingerprint: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["inspect", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert "format       swav\n" in out and "nonfinite    2\n  layer3.1.bn2.running_var\n" in out
    assert out.endswith("loadable     no\n")
    assert err.startswith(f"ccbench: {broken}: module.layer3.1.bn2.running_var holds NaN") and err.count("\n") == 1
    assert "; fix: " in err
    assert main(["inspect", str(checkpoints["dino"])]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "key          teacher\nprefix       module.backbone.\n" in out
    assert "candidates   2\n  --key teacher --prefix module.backbone. (ddp_backbone)\n  --key student" in out
    assert main(["inspect", str(checkpoints["dino"]), "--key", "student", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["key"], info["prefix"], info["fingerprint"]) == ("student", "module.backbone.", twin_fingerprint)
    assert info["nonfinite"] == [] and len(info["candidates"]) == 1


def test_corrupt_safetensors_is_one_line(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    data = checkpoints["torchvision_safetensors"].read_bytes()
    with checkpoints["torchvision"].open("rb") as torch_file:
        pickled = torch_file.read(4096)
    for name, payload in (("cut.safetensors", data[: len(data) // 2]), ("pickle.safetensors", pickled)):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(CheckpointUnreadable) as caught:
            read_checkpoint(path, trust=True)
        message = str(caught.value)
        assert message.startswith(f"{path}: not a readable safetensors file (truncated or corrupt? ")
        assert "\n" not in message
        assert message.endswith("re-download or re-save it")


def test_foreign_architecture_is_refused_naming_keys(tmp_path: Path) -> None:
    path = _save(tmp_path, resnet18(weights=None).state_dict())
    with pytest.raises(CheckpointMismatch) as caught:
        load_backbone(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert "layer1.0.conv1.weight (expected [64, 64, 1, 1], got [64, 64, 3, 3])" in message
    assert "missing" in message and "more)" in message


def test_extra_tensor_is_foreign(tmp_path: Path, reference: State, capsys: pytest.CaptureFixture) -> None:
    path = _save(tmp_path, {**reference, "layer5.0.conv1.weight": torch.zeros(1)})
    report = read_checkpoint(path)
    assert (report.missing, report.unexpected, report.ok) == ((), ("layer5.0.conv1.weight",), False)
    with pytest.raises(CheckpointMismatch) as caught:
        load_backbone(path)
    assert (
        f"{path}: torchvision layout (--key . --prefix '') does not match torchvision resnet50; 1 foreign: "
        f"layer5.0.conv1.weight; fix: " in str(caught.value)
    )
    assert main(["inspect", str(path)]) == 1
    assert capsys.readouterr().err == f"ccbench: {caught.value}\n"


def test_prefix_is_stripped_only_at_the_start(tmp_path: Path, reference: State) -> None:
    odd = "_feature_blocks.layer1._feature_blocks.conv1.weight"
    trunk = {**_prefixed("_feature_blocks.", _backbone(reference)), odd: torch.zeros(1)}
    path = _save(tmp_path, {"classy_state_dict": {"base_model": {"model": {"trunk": trunk}}}})
    assert read_checkpoint(path).unexpected == (odd,)


def test_wrong_shape_is_missing_with_both_shapes(tmp_path: Path, reference: State) -> None:
    path = _save(tmp_path, {**_backbone(reference), "bn1.weight": torch.zeros(32)})
    report = read_checkpoint(path)
    assert report.missing == ("bn1.weight (expected [64], got [32])",)
    assert report.unexpected == ()


def test_width_multiplied_is_refused_by_name(tmp_path: Path) -> None:
    path = _save(tmp_path, {"module.conv1.weight": torch.zeros(128, 3, 7, 7), "module.bn1.weight": torch.zeros(128)})
    with pytest.raises(CheckpointMismatch, match="width-multiplied ResNet-50 \\(conv1 has 128 output channels"):
        load_backbone(path)


def test_truncated_file_is_unreadable(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    data = checkpoints["torchvision"].read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    for trust in (False, True):
        with pytest.raises(CheckpointUnreadable, match="truncated.pth: not a readable torch checkpoint"):
            read_checkpoint(path, trust=trust)


def test_text_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointUnreadable, match="notes.pth"):
        read_checkpoint(path)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFound, match="absent.pth"):
        read_checkpoint(tmp_path / "absent.pth")


def test_pickled_object_needs_trust(tmp_path: Path, reference: State) -> None:
    path = _save(tmp_path, {"state_dict": reference, "args": argparse.Namespace(arch="resnet50")})
    with pytest.raises(UnsafeCheckpoint) as caught:
        load_backbone(path)
    assert "argparse.Namespace" in str(caught.value) and "--trust-checkpoint" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert load_backbone(path, trust=True).format == "torchvision"


def test_unknown_layouts_report_everything(tmp_path: Path) -> None:
    listed = read_checkpoint(_save(tmp_path, [1, 2, 3], "list.pth"))
    assert (listed.format, listed.tensors, listed.unexpected, len(listed.missing)) == ("unknown", 0, (), 265)
    other = read_checkpoint(_save(tmp_path, {"encoder.stem.weight": torch.zeros(2)}, "other.pth"))
    assert (other.format, other.tensors, other.unexpected) == ("unknown", 1, ("encoder.stem.weight",))
    with pytest.raises(CheckpointMismatch, match="layout not recognised"):
        load_backbone(tmp_path / "other.pth")


def test_errors_share_one_root() -> None:
    for error in (
        CheckpointNotFound,
        CheckpointUnreadable,
        UnsafeCheckpoint,
        CheckpointMismatch,
        AmbiguousCheckpoint,
        NonFiniteWeights,
        UnknownEncoder,
    ):
        assert issubclass(error, EncoderError)


# ---------------------------------------------------------------------------------------------- fingerprint


def test_fingerprint_ignores_counters_and_container(reference: State) -> None:
    counted = {
        key: torch.full_like(value, 7) if key.endswith("num_batches_tracked") else value
        for key, value in reference.items()
    }
    assert fingerprint(counted) == fingerprint(_backbone(reference))


def test_fingerprint_sees_one_changed_weight(reference: State) -> None:
    changed = {**reference, "layer4.2.bn3.bias": reference["layer4.2.bn3.bias"] + 1e-3}
    assert fingerprint(changed) != fingerprint(reference)


def test_fingerprint_refuses_a_partial_state(reference: State) -> None:
    with pytest.raises(ValueError, match="conv1.weight"):
        fingerprint({key: value for key, value in reference.items() if key != "conv1.weight"})


# ---------------------------------------------------------------------------------------------- blocks


def test_block_table() -> None:
    assert [(b.name, b.channels, b.stride) for b in BLOCKS] == [
        ("stem", 64, 2),
        ("layer1", 256, 4),
        ("layer2", 512, 8),
        ("layer3", 1024, 16),
        ("layer4", 2048, 32),
        ("pool", 2048, None),
    ]
    assert get_block("layer3").channels == 1024
    with pytest.raises(ValueError, match="valid blocks are stem, layer1"):
        get_block("layer5")


def test_block_shape_at_protocol_sizes() -> None:
    assert [block_shape(name, (224, 224)) for name in BLOCK_NAMES] == [
        (64, 112, 112),
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
        (2048,),
    ]
    # 513 crops round up at every stride-2 stage (checked against a real forward when written).
    assert [block_shape(name, (513, 513))[1] for name in BLOCK_NAMES[:-1]] == [257, 129, 65, 33, 17]


# ---------------------------------------------------------------------------------------------- trunk


@pytest.fixture(scope="module")
def trunk(reference: State) -> ResNet50Trunk:
    return ResNet50Trunk(_backbone(reference))


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (65, 65), (33, 64)])
def test_trunk_shapes_match_block_shape(trunk: ResNet50Trunk, size: tuple[int, int]) -> None:
    features = trunk(_image(*size), BLOCK_NAMES)
    assert {name: tuple(value.shape[1:]) for name, value in features.items()} == {
        name: block_shape(name, size) for name in BLOCK_NAMES
    }


def test_trunk_stops_after_the_deepest_block(trunk: ResNet50Trunk) -> None:
    ran: list[str] = []
    hooks = [
        getattr(trunk, name).register_forward_hook(lambda *_, name=name: ran.append(name))
        for name in ("conv1", "maxpool", "layer1", "layer4")
    ]
    try:
        assert list(trunk(_image(32, 32), ["stem"])) == ["stem"]
        assert ran == ["conv1"]
        ran.clear()
        assert set(trunk(_image(32, 32), ["layer1", "stem"])) == {"stem", "layer1"}
        assert ran == ["conv1", "maxpool", "layer1"]
    finally:
        for hook in hooks:
            hook.remove()


def test_pool_is_the_mean_of_layer4(trunk: ResNet50Trunk) -> None:
    features = trunk(_image(64, 64), ["layer4", "pool"])
    assert features["pool"].shape == (2, 2048)
    torch.testing.assert_close(features["pool"], features["layer4"].mean(dim=(2, 3)))


def test_trunk_is_frozen(trunk: ResNet50Trunk) -> None:
    trunk.train()
    assert not any(module.training for module in trunk.modules())
    assert not any(parameter.requires_grad for parameter in trunk.parameters())
    image = _image(32, 32).requires_grad_(True)
    assert not trunk(image, ["pool"])["pool"].requires_grad
    with pytest.raises(ValueError, match="valid blocks are"):
        trunk(image, ["fc"])
    with pytest.raises(TypeError, match="not a string"):
        trunk(image, "pool")


# ---------------------------------------------------------------------------------------------- registry


def test_random_encoder_is_seeded_and_leaves_the_rng_alone(reference: State) -> None:
    before = torch.get_rng_state()
    trunk, spec = load_encoder(f"random:{SEED}")
    assert torch.equal(torch.get_rng_state(), before)
    assert (spec.name, spec.format, spec.source) == (f"random:{SEED}", "random", f"random:{SEED}")
    assert spec.fingerprint == fingerprint(reference)
    assert load_encoder(f"random:{SEED}")[1].fingerprint == spec.fingerprint
    assert load_encoder(f"random:{SEED + 1}")[1].fingerprint != spec.fingerprint
    assert not trunk.training


def test_random_encoder_takes_no_key_or_prefix() -> None:
    for options in ({"key": "teacher"}, {"prefix": ""}):
        with pytest.raises(UnknownEncoder, match="random:0: --key and --prefix choose part of a checkpoint file"):
            load_encoder("random:0", **options)


def test_key_and_prefix_reach_every_command_that_loads_a_checkpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    seen = []

    def stop(source: str, **options: Any) -> None:
        seen.append((source, options["key"], options["prefix"]))
        raise UnknownEncoder("stopped here")

    monkeypatch.setattr("harness.commands.load_encoder", stop)
    chosen = ["--data-root", str(tmp_path), "--key", "student", "--prefix", ""]
    for command in (
        ["score", "--encoder", "f.pth", "--task", "cifar100"],
        ["extract", "--encoder", "f.pth", "--task", "cifar100"],
        ["run", "--encoder", "f.pth"],
        ["plan", "--encoder", "f.pth"],
        ["submit", "f.pth", "--name", "f"],
    ):
        assert main(command + chosen) == 2
    assert seen == [("f.pth", "student", "")] * 5
    assert capsys.readouterr().err.count("stopped here") == 5


@pytest.mark.parametrize("source", ["random:", "random:abc", "random:-1", "random:1.5"])
def test_bad_random_source(source: str) -> None:
    with pytest.raises(UnknownEncoder, match="random:SEED"):
        load_encoder(source)


def test_missing_checkpoint_source(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFound, match="nowhere.pth"):
        load_encoder(str(tmp_path / "nowhere.pth"))


def test_checkpoint_encoder_spec(tmp_path: Path, checkpoints: dict[str, Path], reference: State) -> None:
    path = tmp_path / "moco_v2_800ep_pretrain.pth.tar"
    path.symlink_to(checkpoints["moco_v2"])
    _, spec = load_encoder(str(path))
    assert (spec.name, spec.format, spec.fingerprint) == ("moco_v2_800ep_pretrain", "moco", fingerprint(reference))
    metadata = json.loads(json.dumps(spec.metadata()))
    assert metadata["mean"] == [0.485, 0.456, 0.406] and metadata["source"] == str(path)
    assert load_encoder(str(path), name="mocov2")[1].name == "mocov2"
    assert default_name("/w/dino_resnet50.safetensors") == "dino_resnet50"
    assert default_name("solo-ep=399.ckpt") == "solo-ep=399"


# ---------------------------------------------------------------------------------------------- preprocessing


def test_constant_image_normalises_to_known_values() -> None:
    prep = Preprocessing(size=(16, 24))
    out = prep(np.full((40, 50, 3), 255, dtype=np.uint8))
    assert out.shape == (3, 16, 24) and out.dtype == torch.float32
    expected = (1 - torch.tensor(prep.mean)) / torch.tensor(prep.std)
    torch.testing.assert_close(out, expected.view(3, 1, 1).expand(3, 16, 24))
    assert Preprocessing()(np.zeros((10, 12, 3), dtype=np.uint8)).shape == (3, 224, 224)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_batch_equals_stacked_images(interpolation: str) -> None:
    prep = Preprocessing(size=(16, 16), interpolation=interpolation)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 20, 30, 3), dtype=np.uint8)
    assert torch.equal(prep.batch(images), torch.stack([prep(image) for image in images]))
    images.flags.writeable = False
    assert torch.equal(prep(images[0, ::-1]), prep(np.flip(images[0], axis=0).copy()))


@pytest.mark.parametrize(
    "image, got",
    [
        (np.zeros((8, 8, 3), dtype=np.float32), "dtype float32"),
        (np.zeros((8, 8), dtype=np.uint8), "shape (8, 8)"),
        (np.zeros((8, 8, 4), dtype=np.uint8), "shape (8, 8, 4)"),
    ],
)
def test_bad_images_are_refused(image: np.ndarray, got: str) -> None:
    with pytest.raises(ValueError, match=f"uint8 RGB .* got .*{re.escape(got)}"):
        Preprocessing()(image)


def test_preprocessing_key() -> None:
    key = Preprocessing().key()
    assert json.loads(json.dumps(key)) == key
    assert key["size"] == [224, 224] and key["interpolation"] == "bilinear"
    assert Preprocessing(size=(112, 112)).key() != key
    with pytest.raises(ValueError, match="interpolation"):
        Preprocessing(interpolation="nearest")


def test_study_registry_lists_the_thirty_encoders_and_baselines() -> None:
    from encoders import STUDY, study_encoder

    methods = [encoder.method for encoder in STUDY]
    assert len(STUDY) == 32 and methods.count("SwAV") == methods.count("MoCo v2") == 14
    assert {"MoCo v1", "PIRL", "supervised", "random"} <= set(methods)
    found = study_encoder("mocov2 imagenet-1/2-lin 100")
    assert found is not None and (found.pretrain_images, found.pretrain_epochs) == (500_500, 100)
    assert study_encoder("SimCLR ImageNet 1000") is None


def test_every_study_dataset_has_a_domain_of_the_tasks_vocabulary() -> None:
    """Results record pretrain_domain from this table; the leaderboard compares it with the tasks' domains,
    so every domain but MIXED must be one tasks name (and MIXED none), or the comparison silently fails."""
    from encoders import MIXED, PRETRAIN_DOMAINS, STUDY, EncoderSpec, pretrain_domain
    from tasks.spec import DOMAINS

    assert {encoder.pretrain_data for encoder in STUDY if pretrain_domain(encoder.pretrain_data) is None} == {"none"}
    assert set(PRETRAIN_DOMAINS.values()) - set(DOMAINS) == {MIXED}
    assert (
        pretrain_domain(" Places365 "),
        pretrain_domain("imagenet-1/4-LOG"),
        pretrain_domain("Combination"),
        pretrain_domain(None),
    ) == ("scene", "object", MIXED, None)
    for data, domain in (("Kinetics", "video"), ("SimCLR-data", None), (None, None)):
        spec = EncoderSpec(name="e", source="e.pth", format="torchvision", fingerprint="ab" * 32, pretrain_data=data)
        assert spec.metadata()["pretrain_domain"] == domain
