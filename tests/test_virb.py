"""The virb protocol (docs/PROTOCOL.md section 8): its heads against a re-implementation written from the
original code's description (shapes, parameter counts, one forward with the same weights), its
losses on hand-computed cases, its battery, and how its results are kept apart."""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from encoders import ResNet50Trunk, block_shape, load_encoder
from harness.decoders import DeepLabV3PlusVirbHead, UNetHead
from harness.evaluate import score_task
from harness.heads import build_head
from harness.losses import build_loss
from harness.metrics import build_metric, depth_valid
from harness.options import ScoreOptions
from harness.plan import task_readers
from harness.results import load_result
from harness.targets import sample_count, target_tensor
from tasks import PROTOCOLS, TaskSpec, battery, get_task
from tasks.errors import UnknownTask
from tasks.readers import IGNORE
from tests.head_base import HeadTests, native_conv_kernels
from tests.test_decoders import parameter_count
from tests.test_dense_e2e import WRITERS
from tests.test_dense_e2e import options as e2e_options


class TestDeepLabV3PlusVirb(HeadTests):
    HEAD = partial(DeepLabV3PlusVirbHead, 5)
    INPUT_BLOCKS = ("layer3", "layer1")
    OUT = 5


class ReferenceDeepLab(nn.Module):
    """The original DeepLabHead as its description gives it (CascadeBlock from layer4 at stride 1 with
    dilations 2/4/2, ASPP 6/12/18 with image pooling, a 48-channel low-level branch with a conv bias,
    a decoder whose convs have biases), with ccbench's two stated changes: BN defaults and
    align_corners=False."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        down = nn.Sequential(nn.Conv2d(1024, 2048, 1, bias=False), nn.BatchNorm2d(2048))
        self.upsample_layer = Bottleneck(1024, 512, downsample=down, dilation=2)
        self.conv = nn.Sequential(Bottleneck(2048, 512, dilation=4), Bottleneck(2048, 512, dilation=2))

        def unit(c_in: int, c_out: int, kernel: int, dilation: int = 1, bias: bool = False) -> nn.Sequential:
            conv = nn.Conv2d(c_in, c_out, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=bias)
            return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())

        self.aspp = nn.ModuleList([unit(2048, 256, 1), *(unit(2048, 256, 3, rate) for rate in (6, 12, 18))])
        self.image_pool = unit(2048, 256, 1)
        self.project = unit(5 * 256, 256, 1)
        self.low = unit(256, 48, 1, bias=True)
        self.decoder = nn.Sequential(
            unit(304, 256, 3, bias=True), unit(256, 256, 3, bias=True), nn.Conv2d(256, classes, 3, padding=1)
        )

    def forward(self, layer3: torch.Tensor, layer1: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.conv(self.upsample_layer(layer3))
        pooled = self.image_pool(F.adaptive_avg_pool2d(x, 1)).expand(-1, -1, *x.shape[-2:])
        x = self.project(torch.cat([branch(x) for branch in self.aspp] + [pooled], dim=1))
        x = F.interpolate(x, size=layer1.shape[-2:], mode="bilinear", align_corners=False)
        x = self.decoder(torch.cat([x, self.low(layer1)], dim=1))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def copy_into_reference(head: DeepLabV3PlusVirbHead, reference: ReferenceDeepLab) -> None:
    """ccbench's weights by their place in the original's layout; the original's extra biases stay 0."""
    pairs = [
        (reference.upsample_layer, head.layer4[0]),
        (reference.conv[0], head.layer4[1]),
        (reference.conv[1], head.layer4[2]),
        *zip(reference.aspp, head.aspp.branches),
        (reference.image_pool, head.aspp.pooling[1]),
        (reference.project, head.aspp.project),
        (reference.low, head.reduce),
        (reference.decoder, head.decoder),
    ]
    with torch.no_grad():
        for target, source in pairs:
            missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
            assert not unexpected and all(name.endswith("0.bias") for name in missing), (missing, unexpected)
            for name in missing:
                target.get_parameter(name).zero_()


def test_virb_deeplab_parameter_count_and_forward_match_the_original_description() -> None:
    """31,850,148 parameters at 20 classes in the original = 31,849,588 here + 560 conv biases that sit
    before a BN (48 low-level + 2 x 256 decoder); the layer4 copy alone is 14,964,736."""
    assert parameter_count(partial(ReferenceDeepLab, 20)) == 31_850_148
    assert parameter_count(partial(DeepLabV3PlusVirbHead, 20)) == 31_850_148 - 560
    with torch.device("meta"):
        assert sum(p.numel() for p in DeepLabV3PlusVirbHead(20).layer4.parameters()) == 14_964_736
    torch.manual_seed(3)
    head, reference = DeepLabV3PlusVirbHead(4).eval(), ReferenceDeepLab(4).eval()
    copy_into_reference(head, reference)
    layer3, layer1 = (
        torch.randn(2, *block_shape("layer3", (224, 224))),
        torch.randn(2, *block_shape("layer1", (224, 224))),
    )
    with torch.no_grad():
        ours = head({"layer3": layer3, "layer1": layer1}, out_size=(224, 224))
        theirs = reference(layer3, layer1, (224, 224))
    assert ours.shape == (2, 4, 224, 224)
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4)


def test_virb_deeplab_sees_stride_16_and_starts_from_the_encoder_layer4() -> None:
    trunk = ResNet50Trunk()
    head = build_head("deeplabv3plus_virb", 19, seed=0, layer4=trunk.layer4.state_dict())
    for name, value in trunk.layer4.state_dict().items():
        assert torch.equal(head.layer4.state_dict()[name], value), name
    with torch.device("meta"):  # shapes only
        shaped = DeepLabV3PlusVirbHead(19)
        for size, side in (((224, 224), (14, 14)), ((513, 513), (33, 33)), ((720, 1280), (45, 80))):
            assert shaped.context({"layer3": torch.zeros(1, *block_shape("layer3", size))}).shape == (1, 2048, *side)
    head.train()
    assert all(not m.training for m in head.layer4.modules() if isinstance(m, nn.BatchNorm2d))
    assert head.aspp.training and all(p.requires_grad for p in head.layer4.parameters())
    before = trunk.layer4[0].conv2.weight.clone()
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    features = {"layer3": torch.randn(2, 1024, 4, 4), "layer1": torch.randn(2, 256, 16, 16)}
    head(features).square().mean().backward()
    optimizer.step()
    assert not torch.equal(head.layer4[0].conv2.weight, before)
    assert torch.equal(trunk.layer4[0].conv2.weight, before), "the encoder itself stays frozen"


@pytest.mark.e2e
def test_virb_deeplab_learns_weighted_classes_from_an_encoder_layer4() -> None:
    """Started from a trunk's layer4 on fixed layer3 features, the head memorises a label map under
    EgoHands' weighted loss: the loss halves within a dozen SGD steps and both classes are predicted."""
    torch.manual_seed(0)
    size = (32, 32)
    head = build_head("deeplabv3plus_virb", 2, seed=0, layer4=ResNet50Trunk().layer4.state_dict()).train()
    features = {name: torch.randn(2, *block_shape(name, size)) for name in head.blocks}
    target = (torch.arange(size[1]) >= size[1] // 2).long().expand(2, *size)
    loss_fn = build_loss("pixel_cross_entropy", class_weights=(0.1, 1.0))
    optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    losses = []
    with native_conv_kernels():
        for _ in range(12):
            loss = loss_fn(head(features, out_size=size), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        predicted = head.eval()(features, out_size=size).argmax(dim=1)
    assert losses[-1] < 0.5 * losses[0]
    assert set(predicted.unique().tolist()) == {0, 1}


def test_virb_binary_head_is_the_original_unet_with_one_output() -> None:
    assert get_task("pets_seg", "virb").head == "unet" and get_task("pets_seg", "virb").num_classes == 1
    assert parameter_count(partial(UNetHead, 1)) == 99_689_988


def test_weighted_pixel_cross_entropy_is_torch_weighted_mean() -> None:
    # Two pixels: background (weight 0.1) with loss l0, a hand (weight 1) with loss l1, one ignored.
    # Weighted mean = (0.1 l0 + l1) / 1.1, as nn.CrossEntropyLoss(weight=...) takes it.
    logits = torch.tensor([[[[2.0, 0.0, 5.0]], [[0.0, 1.0, 5.0]]]])  # (1, 2, 1, 3)
    target = torch.tensor([[[0, 1, IGNORE]]])
    l0 = math.log(1 + math.exp(-2.0))
    l1 = math.log(1 + math.exp(-1.0))
    loss = build_loss("pixel_cross_entropy", class_weights=(0.1, 1.0))(logits, target)
    assert float(loss) == pytest.approx((0.1 * l0 + l1) / 1.1, rel=1e-5)
    plain = build_loss("pixel_cross_entropy")(logits, target)
    assert float(plain) == pytest.approx((l0 + l1) / 2, rel=1e-5)


def test_positive_bce_counts_the_pets_border_as_positive() -> None:
    # Labels 0 (background), 1 (pet), 255 (border) with positive {0, 255}: targets 1, 0, 1.
    logits = torch.tensor([[[[0.0, 2.0, -1.0]]]])
    target = torch.tensor([[[0, 1, IGNORE]]])
    expected = (math.log(2) + math.log(1 + math.exp(2.0)) + math.log(1 + math.exp(1.0))) / 3
    assert float(build_loss("bce", positive=(0, IGNORE))(logits, target)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        build_loss("bce")
    with pytest.raises(ValueError, match="class weights"):
        build_loss("l1", class_weights=(1.0,))


def test_virb_battery_changes_what_the_original_code_did_and_nothing_else() -> None:
    ours, theirs = battery("ccbench"), battery("virb")
    assert list(ours) == list(theirs) and PROTOCOLS == ("ccbench", "virb")
    lowered = {task for task in theirs if theirs[task].lr == 1e-4 and ours[task].lr == 3e-4}
    assert len(lowered) == 12 and "kinetics" not in lowered and "cityscapes_seg" not in lowered
    assert (theirs["caltech101"].epochs, theirs["nyu_walkable"].epochs) == (500, 250)
    assert theirs["cityscapes_seg"].blocks == ("layer3", "layer1")
    ego = theirs["egohands_seg"]
    assert ego.class_weights == (0.1, 1.0, 1.0, 1.0, 1.0) and (ego.metric, ego.secondary) == ("miou_fg", ("miou",))
    assert (ours["egohands_seg"].metric, ours["egohands_seg"].secondary) == ("miou", ("miou_fg",))
    assert (theirs["pets_seg"].loss, theirs["pets_seg"].positive) == ("bce", (0, IGNORE))
    assert ours["nyu_walkable"].secondary == ("positive_iou",) and ours["nyu_walkable"].positive == (1,)
    jittered = {task for task in theirs if theirs[task].views > 1}
    assert jittered == {"pets_seg", "nyu_walkable", "nyu_depth", "thor_depth", "taskonomy_depth"}
    assert theirs["thor_depth"].reader.__name__ == "ThorDepthNormalized"
    unchanged = {"pets", "dtd", "kinetics", "imagenet_v2", "kitti_flow"}
    for task in unchanged:
        assert theirs[task] == ours[task].__class__(**{**ours[task].__dict__, "protocol": "virb"}), task
    with pytest.raises(UnknownTask, match="valid protocols are ccbench, virb"):
        battery("paper")


def test_thor_normalised_depth_is_the_original_scale(tmp_path: Path) -> None:
    from tests.writers.thor_depth import write_thor_depth

    folder = write_thor_depth(tmp_path)
    plain = get_task("thor_depth").reader(folder, "train")
    normalised = get_task("thor_depth", "virb").reader(folder, "train")
    depth = plain.target(0)
    assert normalised.target(0) == pytest.approx((depth - 0.5) / 0.25)
    assert normalised.manifest_digest == plain.manifest_digest, "the same images share one feature cache"


def test_protocol_tags_keep_result_files_apart(tmp_path: Path) -> None:
    options = ScoreOptions(tmp_path, tmp_path, tmp_path)
    assert options.protocol_tag() == "1"
    virb = ScoreOptions(tmp_path, tmp_path, tmp_path, protocol="virb")
    assert virb.protocol_tag() == "1-virb"
    assert (
        ScoreOptions(tmp_path, tmp_path, tmp_path, protocol="virb", epochs=3)
        .protocol_tag()
        .startswith("1-virb-custom-")
    )


def test_cli_protocol_choices_are_the_battery_s() -> None:
    from harness.cli import PROTOCOLS as CLI_PROTOCOLS

    assert CLI_PROTOCOLS == PROTOCOLS


def constant_baseline(task: TaskSpec, data_root: Path) -> float:
    """The best score a constant prediction fitted on the training targets gets on test under `task`'s
    metric: the majority class, all positive or all negative, or the mean depth."""
    readers = task_readers(task, data_root)
    kind = readers["train"].TARGET
    train = [target_tensor(readers["train"].target(i), kind) for i in range(sample_count(readers["train"]))]
    test = [
        target_tensor(readers["test"].target(i), readers["test"].TARGET)[None]
        for i in range(sample_count(readers["test"]))
    ]
    if task.metric == "neg_l1":
        guesses = [
            torch.full_like(target, float(torch.cat([t[depth_valid(t)] for t in train]).mean())) for target in test
        ]
        candidates = [guesses]
    elif task.num_classes == 1:
        candidates = [[torch.full((1, 1, *t.shape[-2:]), sign) for t in test] for sign in (1.0, -1.0)]
    else:
        majority = int(torch.bincount(torch.cat([t[t != IGNORE].flatten() for t in train])).argmax())
        candidates = [[torch.full_like(t, majority) for t in test]]
    scores = []
    for predictions in candidates:
        metric = build_metric(task.metric, task.num_classes, task.positive)
        for prediction, target in zip(predictions, test):
            metric.update(prediction, target)
        scores.append(metric.compute())
    return max(scores)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("protocol", "task_id"),
    [("virb", "nyu_walkable"), ("ccbench", "nyu_walkable")],
)
def test_virb_and_secondary_metrics_score_end_to_end(protocol: str, task_id: str, tmp_path: Path) -> None:
    """Scored from official-format fixtures above a constant prediction, under its own protocol tag and
    file name, with the other definition's metric recorded beside the score."""
    data_root = tmp_path / "data"
    WRITERS[task_id](data_root)
    task = get_task(task_id, protocol)
    run = dataclasses.replace(e2e_options(tmp_path, data_root, 10), protocol=protocol)
    result, path = score_task(*load_encoder("random:0"), task, run)
    baseline = constant_baseline(task, data_root)
    print(
        f"{protocol} {task_id}: {task.metric} {result['score']:.3f}, baseline {baseline:.3f}, {result.get('secondary')}"
    )
    assert result["score"] > baseline and result["metric"] == task.metric
    assert result["protocol"] == protocol and ("__p1-virb-custom-" in path.name) == (protocol == "virb")
    assert load_result(path)["protocol"] == protocol
    if task.secondary:
        assert set(result["secondary"]) == set(task.secondary)
        for name, record in result["secondary"].items():
            assert 0.0 <= record["value"] <= 1.0 and record["direction"] == "higher", name
            assert record["value"] == pytest.approx(result["seeds"][0]["secondary"][name]["value"])
    else:
        assert "secondary" not in result
    assert {entry["metric"] for entry in result["battery"] if entry["task"] == task_id} == {task.metric}
