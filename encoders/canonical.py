"""The target every checkpoint maps onto: torchvision ResNet-50 backbone key names and shapes."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import torch
from torchvision.models import resnet50

COUNTER_SUFFIX = ".num_batches_tracked"


@functools.cache
def backbone_shapes() -> Mapping[str, tuple[int, ...]]:
    """Key -> shape of `resnet50().state_dict()` without the classifier, in torchvision's order.

    Built on the meta device: only names and shapes are needed, not a costly random init.
    """
    with torch.device("meta"):
        net = resnet50(weights=None)
    return MappingProxyType(
        {key: tuple(value.shape) for key, value in net.state_dict().items() if not key.startswith("fc.")}
    )


def is_counter(key: str) -> bool:
    """BatchNorm's batch counter: optional in files and meaningless for features."""
    return key.endswith(COUNTER_SUFFIX)
