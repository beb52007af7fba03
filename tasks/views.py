"""Training views of dense samples: seeded random crops (image and target alike) and the resizing of
targets to the resolution a head trains at.

A crop view set is itself a reader over N x K rows (row = sample * K + k), so the harness plans,
caches and keys it like any image set: its ids and digest name the crop size, count and seed, so
changing any of them never reuses another view set's features.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional

from tasks.readers.base import IGNORE, DenseFrameReader, DenseReader, combined_digest

PAD_RGB = (124, 116, 104)
"""Image padding where a crop overhangs the image (KITTI is 375 px high): the ImageNet mean colour,
which normalises to about zero, so padding looks like "no signal" to the encoder."""

TARGET_FILL = {"classes": IGNORE, "depth": np.nan, "flow": 0.0}
"""Target padding: never scored (ignored class, missing depth, flow with valid = 0)."""


@dataclass(frozen=True)
class CropViews:
    """K crops of `size` x `size` per image, each drawn from default_rng([seed, sample, k])."""

    size: int = 513
    count: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size <= 0 or self.count <= 0:
            raise ValueError(f"crop views need a positive size and count, got {self.size} and {self.count}")

    def box(self, shape: tuple[int, ...], sample: int, k: int) -> tuple[int, int]:
        """Top-left corner of crop k of a sample whose maps are `shape` (H, W, ...): uniform over the
        positions that keep the crop inside the image (0 along a side shorter than the crop)."""
        rng = np.random.default_rng([self.seed, sample, k])
        return tuple(int(rng.integers(0, max(side - self.size, 0) + 1)) for side in shape[:2])

    def crop(self, array: np.ndarray, box: tuple[int, int], fill: float | tuple[int, ...]) -> np.ndarray:
        """The size x size window at `box`, padded with `fill` bottom/right where the image is smaller."""
        out = np.full((self.size, self.size, *array.shape[2:]), fill, dtype=array.dtype)
        top, left = box
        piece = array[top:top + self.size, left:left + self.size]
        out[:piece.shape[0], :piece.shape[1]] = piece
        return out


class CroppedViews(DenseReader):
    """The crop views of a dense split: image row r is crop r % K of image r // K."""

    def __init__(self, base: DenseReader, views: CropViews) -> None:
        self.base, self.views = base, views
        self.root, self.split = base.root, base.split
        self.TARGET, self.classes = base.TARGET, base.classes
        self.LAYOUT = base.LAYOUT

    def owner(self, image: int) -> int:
        """The sample whose box crops base image `image` (the image itself for single-image readers)."""
        return image

    def __len__(self) -> int:
        return len(self.base) * self.views.count

    def image(self, index: int) -> np.ndarray:
        image, k = divmod(index, self.views.count)
        pixels = self.base.image(image)
        return self.views.crop(pixels, self.views.box(pixels.shape, self.owner(image), k), PAD_RGB)

    def target(self, index: int) -> np.ndarray:
        sample, k = divmod(index, self.views.count)
        target = self.base.target(sample)
        return self.views.crop(target, self.views.box(target.shape, sample, k), TARGET_FILL[self.TARGET])

    def image_ids(self) -> list[str]:
        return [f"{image_id}#crop{self.views.size}-{k}" for image_id in self.base.image_ids()
                for k in range(self.views.count)]

    def content_digest(self) -> str:
        return combined_digest(self.base.content_digest(), json.dumps(asdict(self.views), sort_keys=True))


class CroppedFrameViews(CroppedViews, DenseFrameReader):
    """Crop views of a multi-frame split (KITTI flow): every frame of a sample is cropped with the
    sample's box, so the frames stay registered with each other and with the target."""

    FRAMES = 2

    def __init__(self, base: DenseFrameReader, views: CropViews) -> None:
        super().__init__(base, views)
        self.FRAMES = base.FRAMES
        self._owners = {int(frame): sample for sample, row in reversed(list(enumerate(base.samples())))
                        for frame in row}

    def owner(self, image: int) -> int:
        return self._owners[image]

    def samples(self) -> np.ndarray:
        """Sample s * K + k is the frames of sample s, each in view k."""
        base, count = self.base.samples(), self.views.count
        return (base[:, None, :] * count + np.arange(count)[None, :, None]).reshape(-1, base.shape[1])


def crop_views(base: DenseReader, views: CropViews) -> CroppedViews:
    """The crop-view reader of `base`, frame-aware when `base` has multi-frame samples."""
    return CroppedFrameViews(base, views) if isinstance(base, DenseFrameReader) else CroppedViews(base, views)


def resize_target(target: np.ndarray, kind: str, size: tuple[int, int]) -> np.ndarray:
    """A full-resolution target at the (H, W) a head trains at, by nearest neighbour, which keeps
    class ids and missing-depth NaNs intact (interpolating would invent classes and spread NaN).
    Flow also scales its (u, v) by the resize factors, since flow is measured in pixels."""
    if target.shape[:2] == tuple(size):
        return target
    tensor = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32))
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    resized = functional.interpolate(tensor[None], size=tuple(size), mode="nearest-exact")[0]
    if kind == "flow":
        resized[0] *= size[1] / target.shape[1]
        resized[1] *= size[0] / target.shape[0]
        return resized.permute(1, 2, 0).numpy()
    return resized[0].numpy().astype(target.dtype)
