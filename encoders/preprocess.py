"""Image preprocessing as a frozen record: it is part of every cache key, so it must be explicit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional

INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocessing:
    """Squash-resize to `size` (aspect not kept, as the protocol does), then normalise per channel."""

    size: tuple[int, int] = (224, 224)
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or any(not isinstance(side, int) or side <= 0 for side in self.size):
            raise ValueError(f"Preprocessing.size must be two positive ints (H, W), got {self.size!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"unknown interpolation {self.interpolation!r}; valid values are {', '.join(INTERPOLATIONS)}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or any(value <= 0 for value in self.std):
            raise ValueError(f"Preprocessing needs 3 means and 3 positive stds, got {self.mean!r}, {self.std!r}")

    def key(self) -> dict[str, Any]:
        """JSON-able description for cache keys, naming the resize method as well as the fields."""
        fields = {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}
        return {**fields, "resize": "squash", "antialias": True}

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        """A uint8 HxWx3 RGB image -> float32 (3, H', W') network input."""
        _check_images(image, batched=False)
        return self.batch(image[np.newaxis])[0]

    def batch(self, images: np.ndarray) -> torch.Tensor:
        """Equal-sized uint8 (N, H, W, 3) RGB images -> float32 (N, 3, H', W'), resized in one call."""
        return self.normalize(self.resize(images))

    def resize(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) RGB -> float32 (N, 3, H', W') in [0, 1], squash-resized."""
        _check_images(images, batched=True)
        # A copy: cache readers hand out read-only or flipped views that from_numpy cannot share.
        return self.resize_pixels(torch.from_numpy(images.copy()).permute(0, 3, 1, 2))

    def resize_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) on any device -> float32 (N, 3, H', W') in [0, 1]: the same operations
        as `resize`, so an image decoded straight into a tensor (torchvision.io) gets the same pixels."""
        pixels = images.float() / 255.0
        if tuple(pixels.shape[-2:]) == self.size:
            return pixels
        resized = functional.interpolate(
            pixels, size=self.size, mode=self.interpolation, antialias=True, align_corners=False
        )
        # Bicubic can overshoot [0, 1]; clamping keeps it to what a uint8 resize would give.
        return resized.clamp(0.0, 1.0)

    def resize_uint8(self, image: np.ndarray) -> np.ndarray:
        """One (H, W, 3) image resized and rounded back to uint8 (3, H', W'): the compact decoded input
        the encoder-in-the-loop mode stores (exact when no resize is needed, as for crops)."""
        _check_images(image, batched=False)
        return (self.resize(image[np.newaxis])[0] * 255.0).round().to(torch.uint8).numpy()

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) pixels, uint8 or float in [0, 1], on any device -> normalised float32."""
        if pixels.dtype == torch.uint8:
            pixels = pixels.float() / 255.0
        mean = torch.tensor(self.mean, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
        return (pixels - mean) / std


def _check_images(array: np.ndarray, batched: bool) -> None:
    """Refuse anything but uint8 RGB, saying what arrived."""
    ndim = 4 if batched else 3
    if isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.ndim == ndim and array.shape[-1] == 3:
        return
    form = "(N, H, W, 3)" if batched else "(H, W, 3)"
    got = f"dtype {array.dtype} and shape {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
    raise ValueError(f"expected a uint8 RGB array of shape {form}, got {got}")
