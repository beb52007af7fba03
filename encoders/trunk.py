"""The frozen ResNet-50 trunk, returning only the blocks a task needs and computing no deeper."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torchvision.models import resnet50

from encoders.blocks import BLOCK_NAMES, get_block


class ResNet50Trunk(nn.Module):
    """torchvision's ResNet-50 without avgpool and fc, always in eval mode with frozen parameters.

    Module names match torchvision's, so a canonical state (encoders.checkpoints) loads strictly.
    """

    def __init__(self, state: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        # A given state overwrites every tensor, so skip the random init (about 0.5 s) on the meta device.
        with torch.device("cpu" if state is None else "meta"):
            net = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        if state is not None:
            self.to_empty(device="cpu")
            self.load_state_dict(dict(state), strict=True)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ResNet50Trunk:
        """Stay in eval mode: BatchNorm running statistics are part of the frozen encoder."""
        return super().train(False)

    def forward(self, x: torch.Tensor, blocks: Sequence[str]) -> dict[str, torch.Tensor]:
        """The requested blocks for a (B, 3, H, W) batch; stops after the deepest one requested."""
        if isinstance(blocks, str):
            raise TypeError(f"blocks must be a sequence of block names such as ({blocks!r},), not a string")
        wanted = {get_block(name).name for name in blocks}
        if not wanted:
            raise ValueError(f"no blocks requested; valid blocks are {', '.join(BLOCK_NAMES)}")
        features: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for name, step in zip(BLOCK_NAMES, self._steps(), strict=True):
                x = step(x)
                if name in wanted:
                    features[name] = x
                if len(features) == len(wanted):
                    break
        return features

    def _steps(self) -> tuple[Callable[[torch.Tensor], torch.Tensor], ...]:
        """One step per block in BLOCK_NAMES order; each consumes the previous step's output."""
        return (
            lambda x: self.relu(self.bn1(self.conv1(x))),
            lambda x: self.layer1(self.maxpool(x)),
            self.layer2,
            self.layer3,
            self.layer4,
            lambda x: x.mean(dim=(2, 3)),
        )
