"""Dense heads (docs/PROTOCOL.md section 3): the conformance suite per head, exact parameter counts against
the original code's (docs/PROTOCOL.md section 3), and that a head can fit a target at all."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from encoders import block_shape
from harness.decoders import DeepLabV3PlusHead, SiameseUNetHead, UNetHead
from harness.heads import build_head
from tasks import get_task
from tests.head_base import HeadTests, native_conv_kernels


def parameter_count(build: partial[nn.Module]) -> int:
    """Count on the meta device: no memory, no init, no forward."""
    with torch.device("meta"):
        return sum(p.numel() for p in build().parameters())


class TestUNet(HeadTests):
    HEAD = partial(UNetHead, 1)
    INPUT_BLOCKS = ("layer4", "layer3", "layer2", "layer1", "stem")
    OUT = 1


class TestSiameseUNet(HeadTests):
    HEAD = partial(SiameseUNetHead, 1)
    INPUT_BLOCKS = ("layer4", "layer3", "layer2", "layer1", "stem")
    FRAMES = 2
    OUT = 1


class TestDeepLabV3Plus(HeadTests):
    HEAD = partial(DeepLabV3PlusHead, 5)
    INPUT_BLOCKS = ("layer4", "layer1")
    OUT = 5


def test_unet_parameter_count_matches_the_original() -> None:
    """99,689,988 (out=1) and 99,694,604 (out=3), as PixelWisePredictionHead; up1 alone is 75.5M."""
    assert parameter_count(partial(UNetHead, 1)) == 99_689_988
    assert parameter_count(partial(UNetHead, 3)) == 99_694_604


def test_siamese_unet_parameter_count_matches_the_original() -> None:
    """110,843,204 with the original's one output: the U-Net plus 11,153,216 in the five 1x1 fusion
    convs; KITTI's head has two outputs (u, v), 2,308 more in the final conv: 110,845,512."""
    assert parameter_count(partial(SiameseUNetHead, 1)) == 110_843_204
    assert parameter_count(partial(SiameseUNetHead, 2)) == 110_845_512
    assert parameter_count(partial(build_head, "siamese_unet", get_task("kitti_flow").num_classes, 0, 2)) == 110_845_512


def test_deeplab_trains_on_a_last_batch_of_one_sample() -> None:
    """A one-sample batch (Cityscapes' last with --views 13) steps without touching the image-pooling
    BN's running statistics; the other BNs still update, and larger batches use batch statistics."""
    head = DeepLabV3PlusHead(3).train()
    features = {"layer4": torch.randn(1, 2048, 2, 2), "layer1": torch.randn(1, 256, 16, 16)}
    norm = head.aspp.pooling[1][1]
    before = norm.running_mean.clone()
    loss = head(features, out_size=(64, 64)).square().mean()
    loss.backward()
    assert torch.equal(norm.running_mean, before) and norm.num_batches_tracked == 0
    assert head.aspp.pooling[1][0].weight.grad.abs().sum() > 0
    assert head.reduce[1].num_batches_tracked == 1
    pair = {name: values.repeat(2, 1, 1, 1) for name, values in features.items()}
    head(pair)
    assert norm.num_batches_tracked == 1 and not torch.equal(norm.running_mean, before)


@pytest.mark.parametrize(("classes", "count"), [(2, 16_843_362), (5, 16_850_277), (19, 16_882_547)])
def test_deeplab_parameter_count(classes: int, count: int) -> None:
    """ASPP 15,535,104 (as the original); low-level branch and decoder 1,308,258 + 2,305 per class
    (the original's 1.35M at 20 classes, less its 48 dead conv biases); no dilated layer4 copy."""
    assert parameter_count(partial(DeepLabV3PlusHead, classes)) == count


def test_build_head_makes_each_decoder_by_name_with_its_output_channels() -> None:
    for name, kind, outputs in (
        ("unet", UNetHead, 1),
        ("siamese_unet", SiameseUNetHead, 2),
        ("deeplabv3plus", DeepLabV3PlusHead, 19),
    ):
        head = build_head(name, outputs, seed=0)
        assert type(head) is kind
        last = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        assert last.out_channels in (outputs, 4 * outputs)


def test_deeplab_fits_a_fixed_target() -> None:
    """On fixed random features a trainable head must memorise a fixed label map: the loss halves
    within a dozen SGD steps (SGD: Adam's update costs as much as the forward on two cores)."""
    torch.manual_seed(0)
    size = (32, 32)
    head = DeepLabV3PlusHead(3)
    features = {name: torch.randn(2, *block_shape(name, size)) for name in head.blocks}
    target = (torch.arange(size[1]) >= size[1] // 2).long().expand(2, *size)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    losses = []
    with native_conv_kernels():
        for _ in range(12):
            loss = nn.functional.cross_entropy(head(features, out_size=size), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
