"""Training views of dense samples: seeded random crops, optionally rescaled and mirrored (image
and target alike), colour-jittered views, and the resizing of targets to the resolution a head
trains at.

A view set is itself a reader over N x K rows (row = sample * K + k), so the harness plans, caches
and keys it like any image set: its ids and digest name the crop size, count, seed, scale range and
flip, so changing any of them never reuses another view set's features. Which view of an image an
epoch trains on is the harness's choice (harness/view_schedule.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn import functional

from tasks.readers.base import IGNORE, DenseFrameReader, DenseReader, combined_digest

PAD_RGB = (124, 116, 104)
"""Image padding where a crop overhangs the image (KITTI is 375 px high): the ImageNet mean colour,
which normalises to about zero, so padding looks like "no signal" to the encoder."""

TARGET_FILL = {"classes": IGNORE, "depth": np.nan, "flow": 0.0}
"""Target padding: never scored (ignored class, missing depth, flow with valid = 0)."""
CLASS_CROP_TRIES = 10
"""Class-map crops are redrawn up to this many times until they hold two or more classes (the
original's rule for EgoHands), so a crop of pure background rarely teaches nothing; the first
draw is kept when none does."""


@dataclass(frozen=True)
class CropDraw:
    """One view's geometry: the rescale factor, whether it is mirrored, and the crop's top-left
    corner in the rescaled (and mirrored) image."""

    scale: float
    flip: bool
    box: tuple[int, int]


@dataclass(frozen=True)
class CropViews:
    """K crops of `size` x `size` per image, each drawn from default_rng([seed, sample, k]). With
    `scale` (low, high) the image is first rescaled by a factor drawn uniformly from that range and
    with `flip` mirrored left-right with probability 1/2, image and target alike, in the original's
    order: scale, flip, crop (Cityscapes: 0.5-2 and flip, docs/PROTOCOL.md §4)."""

    size: int = 513
    count: int = 1
    seed: int = 0
    scale: tuple[float, float] | None = None
    flip: bool = False

    @property
    def tag(self) -> str:
        scaled = f"-scale{self.scale[0]:g}-{self.scale[1]:g}" if self.scale else ""
        return f"crop{self.size}{scaled}{'-flip' if self.flip else ''}"

    def __post_init__(self) -> None:
        if self.size <= 0 or self.count <= 0:
            raise ValueError(f"crop views need a positive size and count, got {self.size} and {self.count}")
        if self.scale is not None and not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"crop views need a scale range 0 < low <= high, got {self.scale}")

    def draw(self, shape: tuple[int, ...], sample: int, k: int) -> CropDraw:
        """View k of a sample whose maps are `shape` (H, W, ...): its scale and flip, and a corner
        uniform over the positions that keep the crop inside the rescaled image (0 along a side
        shorter than the crop)."""
        return next(self.draws(shape, sample, k))

    def draws(self, shape: tuple[int, ...], sample: int, k: int) -> Iterator[CropDraw]:
        """The successive draws of view k's generator, which redraw only the corner (scale and flip
        are the view's); `draw` is the first."""
        rng = np.random.default_rng([self.seed, sample, k])
        scale = float(rng.uniform(*self.scale)) if self.scale else 1.0
        flip = bool(rng.random() < 0.5) if self.flip else False
        scaled = scaled_shape(shape, scale)
        while True:
            box = tuple(int(rng.integers(0, max(side - self.size, 0) + 1)) for side in scaled)
            yield CropDraw(scale, flip, box)

    def apply(self, array: np.ndarray, draw: CropDraw, fill: float | tuple[int, ...], kind: str) -> np.ndarray:
        """The size x size window of `array` (an "image", or a target of `kind`) rescaled and
        mirrored as `draw` says, padded with `fill` bottom/right where the rescaled image is
        smaller. Only the window is resampled: images bicubically (PIL, as the original), targets
        by nearest neighbour (class ids and missing depth kept); flow (u, v) is scaled with the
        image and u changes sign under the mirror."""
        height, width = array.shape[:2]
        scaled_h, scaled_w = scaled_shape(array.shape, draw.scale)
        top, left = draw.box
        rows, cols = min(self.size, scaled_h - top), min(self.size, scaled_w - left)
        first = scaled_w - left - cols if draw.flip else left  # the window's first column before mirroring
        if kind == "image" and draw.scale != 1.0:
            region = (first * width / scaled_w, top * height / scaled_h)
            region += (region[0] + cols * width / scaled_w, region[1] + rows * height / scaled_h)
            piece = np.asarray(
                Image.fromarray(array).resize((cols, rows), Image.Resampling.BICUBIC, box=region), dtype=array.dtype
            )
        else:
            piece = array[np.ix_(_nearest(top, rows, height, scaled_h), _nearest(first, cols, width, scaled_w))]
        if kind == "flow":
            piece = piece.astype(np.float32)
            piece[..., 0] *= scaled_w / width * (-1 if draw.flip else 1)
            piece[..., 1] *= scaled_h / height
        piece = piece[:, ::-1] if draw.flip else piece
        out = np.full((self.size, self.size, *array.shape[2:]), fill, dtype=piece.dtype)
        out[:rows, :cols] = piece
        return out


def scaled_shape(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    """(H, W) of a `shape` image rescaled by `scale`, truncated as the original's PIL resize was."""
    return tuple(max(int(side * scale), 1) for side in shape[:2]) if scale != 1.0 else tuple(shape[:2])


def _nearest(start: int, length: int, source: int, scaled: int) -> np.ndarray:
    """Source indices of scaled pixels start..start+length-1, by nearest neighbour (torch's
    "nearest-exact": pixel centres mapped back and floored), so a window equals that window of
    the whole map resized."""
    index = np.floor((np.arange(start, start + length) + 0.5) * source / scaled).astype(np.int64)
    return np.minimum(index, source - 1)


class ViewSet(DenseReader):
    """K views of every image of a dense split, as a reader: row r is view r % K of image r // K.
    Its ids and digest carry the views' parameters, so each view set keys its own cache."""

    def __init__(self, base: DenseReader, views: CropViews | JitterViews) -> None:
        self.base, self.views = base, views
        self.root, self.split = base.root, base.split
        self.TARGET, self.classes = base.TARGET, base.classes
        self.LAYOUT = base.LAYOUT

    def __len__(self) -> int:
        return len(self.base) * self.views.count

    def image_ids(self) -> list[str]:
        return [
            f"{image_id}#{self.views.tag}-{k}" for image_id in self.base.image_ids() for k in range(self.views.count)
        ]

    def parameters(self) -> dict[str, object]:
        """The views' draw as JSON values: what the digest hashes and a result records."""
        return json.loads(json.dumps(asdict(self.views)))

    def content_digest(self) -> str:
        return combined_digest(self.base.content_digest(), json.dumps(self.parameters(), sort_keys=True))


@dataclass(frozen=True)
class JitterViews:
    """K colour views per image for resized dense tasks (the original jittered them every epoch):
    view 0 is the clean image, view k > 0 scales brightness, contrast and saturation by factors
    drawn uniformly from [1 - strength, 1 + strength] by default_rng([seed, image, k])."""

    count: int = 1
    strength: float = 0.4
    seed: int = 0

    @property
    def tag(self) -> str:
        return "jitter"

    def apply(self, pixels: np.ndarray, image: int, k: int) -> np.ndarray:
        if k == 0:
            return pixels
        brightness, contrast, saturation = np.random.default_rng([self.seed, image, k]).uniform(
            1 - self.strength, 1 + self.strength, 3
        )
        out = pixels.astype(np.float32) * brightness
        grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
        out = (out - grey.mean()) * contrast + grey.mean()
        grey = (out @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        out = (out - grey) * saturation + grey
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class JitteredViews(ViewSet):
    """The colour views of a resized dense split; targets are the base sample's, unchanged."""

    def image(self, index: int) -> np.ndarray:
        image, k = divmod(index, self.views.count)
        return self.views.apply(self.base.image(image), image, k)

    def target(self, index: int) -> np.ndarray:
        return self.base.target(index // self.views.count)


class CroppedViews(ViewSet):
    """The crop views of a dense split: image row r is crop r % K of image r // K."""

    def owner(self, image: int) -> int:
        """The sample whose box crops base image `image` (the image itself for single-image readers)."""
        return image

    def _draw(self, shape: tuple[int, ...], sample: int, k: int, target: np.ndarray | None = None) -> CropDraw:
        """View k of `sample`: the first draw, or for class maps the first draw holding two
        classes (decoding the target when the caller has not)."""
        if self.TARGET != "classes":
            return self.views.draw(shape, sample, k)
        target = self.base.target(sample) if target is None else target
        draws = itertools.islice(self.views.draws(target.shape, sample, k), CLASS_CROP_TRIES)
        first = None
        for draw in draws:
            labels = np.unique(self.views.apply(target, draw, IGNORE, "classes"))
            if np.count_nonzero(labels != IGNORE) > 1:
                return draw
            first = first or draw
        return first

    def image(self, index: int) -> np.ndarray:
        image, k = divmod(index, self.views.count)
        pixels = self.base.image(image)
        return self.views.apply(pixels, self._draw(pixels.shape, self.owner(image), k), PAD_RGB, "image")

    def target(self, index: int) -> np.ndarray:
        sample, k = divmod(index, self.views.count)
        target = self.base.target(sample)
        draw = self._draw(target.shape, sample, k, target)
        return self.views.apply(target, draw, TARGET_FILL[self.TARGET], self.TARGET)


class CroppedFrameViews(CroppedViews, DenseFrameReader):
    """Crop views of a multi-frame split (KITTI flow): every frame of a sample is cropped with the
    sample's box, so the frames stay registered with each other and with the target."""

    FRAMES = 2

    def __init__(self, base: DenseFrameReader, views: CropViews) -> None:
        super().__init__(base, views)
        self.FRAMES = base.FRAMES
        self._owners = {
            int(frame): sample for sample, row in reversed(list(enumerate(base.samples()))) for frame in row
        }

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
