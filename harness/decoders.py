"""Dense-prediction heads trained on frozen feature maps (docs/PROTOCOL.md section 3), sized from the
encoder's block table so a change of trunk geometry cannot silently mis-size a decoder.

Input sizes that are not multiples of 32 (65, 513, ...) give maps that round up at every stride-2
stage (`block_shape`), so a 2x upsampled map can be 1 px larger than the next finer block. The
extra row/column is the bottom/right one, which covers input pixels past the image edge, so the
heads crop it (top-left aligned) instead of resampling the whole map as the original code did: the
remaining pixels stay exactly where the encoder put them, and at sizes that halve exactly nothing
changes. Every head checks the feature shapes first and names the offending block, because a
mismatch otherwise surfaces as an opaque convolution or broadcasting error deep in the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

from encoders import get_block
from tasks.spec import HEAD_BLOCKS


def _expected_side(finest_side: int, ratio: int) -> int:
    """Side of a block `ratio` times coarser than one of `finest_side`: ceil(n / 2) per stride-2
    stage, which compounds to ceil(n / ratio)."""
    return -(-finest_side // ratio)


def check_features(head: str, features: dict[str, torch.Tensor], blocks: tuple[str, ...], frames: int) -> None:
    """Raise ValueError naming the block when `features` cannot come from one input image (or frame
    group): a missing block, a wrong rank, channel or frame count, or maps whose sizes do not follow
    the stride table from the finest block read."""
    missing = [name for name in blocks if name not in features]
    if missing:
        raise ValueError(f"{head} needs blocks {', '.join(blocks)}; missing {', '.join(missing)}")
    lead = (frames,) if frames > 1 else ()
    layout = f"(B, {frames}, C, H, W)" if frames > 1 else "(B, C, H, W)"
    finest = min(blocks, key=lambda name: get_block(name).stride)
    reference = features[finest]
    if reference.ndim != len(lead) + 4:
        raise ValueError(f"{head}: block {finest!r} must be {layout}, got shape {tuple(reference.shape)}")
    batch, (height, width) = reference.shape[0], reference.shape[-2:]
    for name in blocks:
        block = get_block(name)
        ratio = block.stride // get_block(finest).stride
        expected = (batch, *lead, block.channels, _expected_side(height, ratio), _expected_side(width, ratio))
        if tuple(features[name].shape) != expected:
            raise ValueError(
                f"{head}: block {name!r} expected shape {expected} (from {finest!r} "
                f"{tuple(reference.shape)}), got {tuple(features[name].shape)}"
            )


def _crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Drop the bottom/right rounding pixels so `x` matches `size` (see the module docstring)."""
    return x[..., : size[0], : size[1]]


def _to_out_size(x: torch.Tensor, native: tuple[int, int], out_size: tuple[int, int] | None) -> torch.Tensor:
    """Crop when `out_size` is the input the native grid rounded up from (each side equal to or 1 px
    less than the native one); any other size is a genuine rescale, done bilinearly."""
    if out_size is None or tuple(out_size) == native:
        return x
    if all(0 <= n - o <= 1 for n, o in zip(native, out_size)):
        return _crop_to(x, out_size)
    return F.interpolate(x, size=tuple(out_size), mode="bilinear", align_corners=False)


class _UpShuffle(nn.Sequential):
    """conv3x3 to 4*c_out -> PixelShuffle(2) [-> LeakyReLU(0.01)]: the original `upshuffle` unit,
    which doubles resolution without transposed-convolution checkerboards."""

    def __init__(self, c_in: int, c_out: int, activate: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, 4 * c_out, 3, padding=1), nn.PixelShuffle(2)]
        if activate:
            layers.append(nn.LeakyReLU(0.01))
        super().__init__(*layers)


class UNetHead(nn.Module):
    """The original `PixelWisePredictionHead`: upshuffle stages from layer4 with skips ADDED (not
    concatenated) and no normalization, so the frozen features' scale passes straight through."""

    blocks = HEAD_BLOCKS["unet"]

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        widths = [get_block(name).channels for name in self.blocks]
        self.stages = nn.ModuleList(_UpShuffle(c_in, c_out) for c_in, c_out in zip(widths, widths[1:]))
        self.final = _UpShuffle(widths[-1], out_channels, activate=False)

    def forward(self, features: dict[str, torch.Tensor], out_size: tuple[int, int] | None = None) -> torch.Tensor:
        check_features(type(self).__name__, features, self.blocks, frames=1)
        return self.decode(features, out_size)

    def decode(self, features: dict[str, torch.Tensor], out_size: tuple[int, int] | None) -> torch.Tensor:
        """The decoder on already-checked single-frame maps (shared with the Siamese head)."""
        x = features[self.blocks[0]].float()
        for stage, skip_name in zip(self.stages, self.blocks[1:]):
            skip = features[skip_name].float()
            x = _crop_to(stage(x), skip.shape[-2:]) + skip
        native = (2 * x.shape[-2], 2 * x.shape[-1])
        return _to_out_size(self.final(x), native, out_size)


class SiameseUNetHead(nn.Module):
    """The original `SiamesePixelWisePredictionHead`: per level, the two frames' maps concatenated on
    channels (frame 0 first) and fused by a 1x1 conv (bias, no activation) back to the level's width,
    then the U-Net; the fusion lets the decoder see both frames at every scale (optical flow)."""

    blocks = HEAD_BLOCKS["siamese_unet"]
    frames = 2

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        widths = {name: get_block(name).channels for name in self.blocks}
        self.fuse = nn.ModuleDict({name: nn.Conv2d(self.frames * width, width, 1) for name, width in widths.items()})
        self.unet = UNetHead(out_channels)

    def forward(self, features: dict[str, torch.Tensor], out_size: tuple[int, int] | None = None) -> torch.Tensor:
        check_features(type(self).__name__, features, self.blocks, frames=self.frames)
        fused = {name: self.fuse[name](features[name].float().flatten(1, 2)) for name in self.blocks}
        return self.unet.decode(fused, out_size)


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    """Conv (padding keeps the size) -> BN -> ReLU, DeepLab's building unit. No conv bias: the BN
    that follows subtracts the batch mean, so a bias would get no gradient and do nothing."""
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class _ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3 and image-pooling branches (256
    channels each, BN+ReLU), concatenated and projected to 256 (BN+ReLU), no dropout, as the original."""

    width = 256

    def __init__(self, c_in: int, rates: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [_conv_bn_relu(c_in, self.width, 1)] + [_conv_bn_relu(c_in, self.width, 3, rate) for rate in rates]
        )
        self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), _conv_bn_relu(c_in, self.width, 1))
        self.project = _conv_bn_relu((len(rates) + 2) * self.width, self.width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self._pool(x).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """The image-pooling branch. Its BN sees one value per channel per sample, so a training
        batch of one sample (a last partial batch: Cityscapes with `--views 13`, NYU walkable with
        `--views 11`) has no batch statistics; that batch is normalised by the running statistics,
        which it leaves unchanged, instead of failing."""
        if not (self.training and x.shape[0] == 1):
            return self.pooling(x)
        pool, (conv, norm, relu) = self.pooling
        reduced = conv(pool(x))
        return relu(
            F.batch_norm(reduced, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)
        )


class DeepLabV3PlusHead(nn.Module):
    """DeepLabv3+ decoder on the frozen encoder: ASPP on layer4, upsampled to layer1's grid and joined
    with a 48-channel reduction of layer1, two 3x3 convs, a 3x3 classifier (as the original), then
    bilinear upsampling. Unlike the original, no dilated layer4 copy is fine-tuned on layer3: the
    encoder stays frozen, as the paper states.

    ASPP rates are (3, 6, 9), not the original's (6, 12, 18): those were set for output stride 16,
    and layer4 here has stride 32, so halving them keeps the same field of view in input pixels (the
    DeepLabv3 rule of scaling rates with output stride). At stride 32 rate 18 would also put every
    off-centre tap in the padding of a 224-450 px crop's 7-15 px map, degenerating to a 1x1 conv.
    Interpolation uses align_corners=False (torchvision's convention; the original's True lines the
    grids up only for sizes of the form stride*k+1). BatchNorm keeps PyTorch's defaults rather than
    the original's accidental eps 3e-4 and momentum 3e-4 (docs/PROTOCOL.md section 3), and the layer1
    reduction drops the original's conv bias, which sits before a BN and so never learns. The
    image-pooling branch normalises a training batch of one sample by its running statistics (`_ASPP._pool`).
    """

    blocks = HEAD_BLOCKS["deeplabv3plus"]
    rates = (3, 6, 9)
    low_level = 48
    width = 256

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.aspp = _ASPP(get_block("layer4").channels, self.rates)
        self.reduce = _conv_bn_relu(get_block("layer1").channels, self.low_level, 1)
        self.decoder = nn.Sequential(
            _conv_bn_relu(self.width + self.low_level, self.width, 3),
            _conv_bn_relu(self.width, self.width, 3),
            nn.Conv2d(self.width, num_classes, 3, padding=1),
        )

    def forward(self, features: dict[str, torch.Tensor], out_size: tuple[int, int] | None = None) -> torch.Tensor:
        check_features(type(self).__name__, features, self.blocks, frames=1)
        low = features["layer1"].float()
        context = F.interpolate(
            self.aspp(self.context(features)), size=low.shape[-2:], mode="bilinear", align_corners=False
        )
        logits = self.decoder(torch.cat([context, self.reduce(low)], dim=1))
        stride = get_block("layer1").stride
        size = tuple(out_size) if out_size is not None else (stride * low.shape[-2], stride * low.shape[-1])
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def context(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The map ASPP reads: the frozen layer4."""
        return features["layer4"].float()


VIRB_DILATIONS = (2, 4, 2)
"""The 3x3 dilations of the original's layer4 copy, block by block (its CascadeBlock)."""


def dilated_layer4(state: Mapping[str, torch.Tensor] | None = None) -> nn.Sequential:
    """torchvision's ResNet-50 layer4 at stride 1 (output stride 16 on layer3), 3x3 convs dilated
    2, 4, 2 as the original's copy; initialised from `state` (the encoder's layer4, keys as
    `layer4.state_dict()`), else randomly (calibration, tests). 14,964,736 parameters."""
    layer = resnet50(weights=None).layer4
    layer[0].conv2.stride = (1, 1)
    layer[0].downsample[0].stride = (1, 1)
    for block, dilation in zip(layer, VIRB_DILATIONS):
        block.conv2.dilation, block.conv2.padding = (dilation, dilation), (dilation, dilation)
    if state is not None:
        layer.load_state_dict(dict(state), strict=True)
    return layer


class DeepLabV3PlusVirbHead(DeepLabV3PlusHead):
    """The original code's DeepLabv3+ (`--protocol virb`, docs/PROTOCOL.md section 8): a trainable
    dilated copy of layer4, initialised from the encoder's, turns cached layer3 into a stride-16
    2048-channel map for ASPP at the original's rates (6, 12, 18); the rest is DeepLabV3PlusHead.

    The copy's BatchNorms stay in eval mode with the encoder's statistics (the original forced them
    to eval), while its convolutions and BN affine weights train."""

    blocks = HEAD_BLOCKS["deeplabv3plus_virb"]
    rates = (6, 12, 18)

    def __init__(self, num_classes: int, layer4_state: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__(num_classes)
        self.layer4 = dilated_layer4(layer4_state)

    def train(self, mode: bool = True) -> DeepLabV3PlusVirbHead:
        super().train(mode)
        for module in self.layer4.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def context(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.layer4(features["layer3"].float())
