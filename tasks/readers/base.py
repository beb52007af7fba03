"""The reader contract: a dataset split in its official layout, as raw uint8 images and labels.

Also the pieces several readers share: listing folders, the seeded per-class split, frame indexing,
digests, and FileListReader for readers whose images are files chosen at construction.
"""

from __future__ import annotations

import functools
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from tasks.errors import DataCorrupt, DataNotFound, UnseenClass

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
"""Files `image_files` takes by default, compared lower-case (ImageNet ships `.JPEG`, ImageNetV2 `.jpeg`)."""

JPEG_SUFFIXES, JPEG_START = (".jpeg", ".jpg"), b"\xff\xd8"

TRAIN_PARTS, ALL_PARTS = 4, 5
"""The train share of a seeded split, 4/5, as integers so the counts never depend on float rounding."""


class Reader(ABC):
    """A split of one dataset, read from the files users download.

    Readers know nothing of encoders or heads: they index the split at construction (so a missing
    or malformed file fails at once, naming the file) and decode one image at a time on demand.
    `image_ids` names each image in a way stable across machines; together with
    `content_digest` it identifies the image set in cache keys and results. For single-image
    tasks a sample is an image and `labels()` is aligned with the images; multi-frame tasks
    subclass FrameReader.

    `classes` holds the class names in label order (`classes[label]`), set at construction by
    every reader whose dataset names its classes, so heads and reports can name a label.
    """

    SPLITS: ClassVar[tuple[str, ...]]
    LAYOUT: ClassVar[str]
    classes: list[str]

    def __init__(self, root: str | Path, split: str) -> None:
        if split not in self.SPLITS:
            raise ValueError(f"unknown split {split!r} for {type(self).__name__}; valid: {', '.join(self.SPLITS)}")
        self.root = Path(root)
        self.split = split

    def require(self, path: Path) -> Path:
        """Return `path` if it exists, else raise naming it and the layout expected."""
        if not path.exists():
            raise DataNotFound(f"{path}: missing; expected {self.LAYOUT}")
        return path

    def inside(self, path: Path, where: str) -> Path:
        """Return `path`, built from an entry of a list or JSON file (`where` names the file and
        entry), if it stays inside the data folder; '..' or an absolute path is refused, so a split
        list can never make a reader open files elsewhere. The names are compared, not their
        targets, so symlinks inside the folder (a user's own layout) are still followed."""
        root = os.path.abspath(self.root)
        if os.path.commonpath([root, os.path.abspath(path)]) != root:
            raise DataCorrupt(
                f"{where}: names {path}, outside the data folder {self.root}; a list may only name "
                "files inside it, re-download or re-extract it"
            )
        return path

    @abstractmethod
    def __len__(self) -> int:
        """Number of images in the split."""

    @abstractmethod
    def image(self, index: int) -> np.ndarray:
        """Image `index` as an (H, W, 3) uint8 RGB array."""

    @abstractmethod
    def labels(self) -> np.ndarray:
        """Every sample's label, in sample order, as an int64 array."""

    @abstractmethod
    def image_ids(self) -> list[str]:
        """A stable name per image, in index order (e.g. the path relative to the data folder)."""

    @abstractmethod
    def content_digest(self) -> str:
        """A digest of the split's source files, so edited data never reuses an old cache."""

    def encoded(self, index: int) -> bytes | None:
        """Image `index`'s JPEG file as stored, where `image` decodes exactly that file, so a faster
        decoder may take the bytes instead; None where there is no such file (arrays, crops, PNGs)."""
        return None

    def split_details(self) -> dict[str, Any]:
        """What the result records of how the reader chose this split's members beyond its manifest:
        nothing where the dataset's files fix the split; a reader that chooses them itself
        (Taskonomy's buildings) says what it chose and why, so a score names its data."""
        return {}

    @functools.cached_property
    def manifest_digest(self) -> str:
        """sha256 over the ordered sample ids and the content digest: the image set's identity."""
        digest = hashlib.sha256()
        digest.update(self.content_digest().encode())
        for image_id in self.image_ids():
            digest.update(image_id.encode())
            digest.update(b"\0")
        return digest.hexdigest()


class FrameReader(Reader):
    """A split whose samples are FRAMES images each, in time order (egomotion pairs, video clips).

    The images (`__len__`, `image`, `image_ids`) are the individual frames the samples use, each
    once, so features are cached per frame and shared by every sample that uses a frame;
    `samples()` says which frames make each sample and `labels()` has one label per sample.
    """

    FRAMES: ClassVar[int]

    @abstractmethod
    def samples(self) -> np.ndarray:
        """(S, FRAMES) int64 frame indices of every sample, each row in time order."""


class FileListReader(Reader):
    """A reader whose images are image files listed at construction, so all but indexing is shared.

    A subclass's `__init__` sets `_paths` (the image files, in index order) and `_labels` (int64),
    and names the list or label files that decide the split with `require_index`, which collects
    them in `_index_files` for the digest. Image ids are the paths relative to `image_root`, the
    data folder unless the reader moves it (EuroSAT counts from its `2750/` folder, wherever that
    sits).

    `content_digest` is `combined_digest` of each index file's sha256 and then the listing, or the
    listing alone when there is no index file; LISTING_FIRST readers hash the listing first, then
    the index files. Those orders are the ones each reader was released with: they keep the
    manifests already recorded in feature caches and results valid.
    """

    LISTING_FIRST: ClassVar[bool] = False
    _paths: list[Path]
    _labels: np.ndarray
    _index_files: tuple[Path, ...] = ()

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.image_root = self.root

    def require_index(self, path: Path) -> Path:
        """`require` a list or label file and add it (once) to `_index_files`, so editing it changes
        the content digest."""
        self.require(path)
        if path not in self._index_files:
            self._index_files = (*self._index_files, path)
        return path

    @functools.cached_property
    def _ids(self) -> list[str]:
        """The image ids, computed once as ImageNet has 1.3M paths; frame readers assign `_ids`
        themselves, keeping each frame's path as their index file spells it."""
        return [path.relative_to(self.image_root).as_posix() for path in self._paths]

    def __len__(self) -> int:
        return len(self._paths)

    def image(self, index: int) -> np.ndarray:
        return load_rgb(self._paths[index])

    def encoded(self, index: int) -> bytes | None:
        """The file's bytes when it is a JPEG (by name and by its start-of-image marker: ImageNet
        holds a PNG named .JPEG) and this reader's `image` is the plain decode of it; an unreadable
        file gives None, and `image` then reports it."""
        path = self._paths[index]
        if type(self).image is not FileListReader.image or path.suffix.lower() not in JPEG_SUFFIXES:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return data if data[:2] == JPEG_START else None

    def labels(self) -> np.ndarray:
        return self._labels

    def image_ids(self) -> list[str]:
        return list(self._ids)

    def content_digest(self) -> str:
        listing = listing_digest(self.image_root, self._paths)
        index_digests = [file_sha256(path) for path in self._index_files]
        if self.LISTING_FIRST:
            return combined_digest(listing, *index_digests)
        return combined_digest(*index_digests, listing) if index_digests else listing


class FileListFrameReader(FileListReader, FrameReader):
    """A FileListReader whose samples are groups of its image files; a subclass also sets `_samples`,
    usually through `index_frames`."""

    _samples: np.ndarray

    def samples(self) -> np.ndarray:
        return self._samples

    def index_frames(self, groups: Iterable[Sequence[str]]) -> None:
        """Take the frames that `groups` (one per sample, paths relative to the data folder) name as
        the images: each distinct path once, in order of first use and checked to exist, so a frame
        shared by several samples is decoded and encoded once. Its id is the path as the group
        names it; `_samples` gets each group's frame indices."""
        frame_index: dict[str, int] = {}
        rows = []
        for group in groups:
            for frame in group:
                if frame not in frame_index:
                    self.require(self.root / frame)
                    frame_index[frame] = len(frame_index)
            rows.append([frame_index[frame] for frame in group])
        self._ids = list(frame_index)
        self._paths = [self.root / frame for frame in self._ids]
        self._samples = np.array(rows, dtype=np.int64).reshape(-1, self.FRAMES)


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB (grayscale, CMYK, palette and RGBA converted);
    an unreadable file is reported by path."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise DataNotFound(f"{path}: missing image; the dataset folder is incomplete, re-extract it") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataCorrupt(
            f"{path}: cannot decode image ({error}); re-download the file or remove it "
            "together with its entry in the split list"
        ) from None


def subfolders(folder: Path) -> list[str]:
    """Names of the visible folders directly in `folder`, in Python's sorted (code point) order: the
    class order of every reader that takes its classes from folder names."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir() and not entry.name.startswith("."))


def image_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """The visible files directly in `folder` whose lower-cased name ends with one of `suffixes`,
    sorted by name: the stable order splits are drawn in. Other files (leftover inner tars, notes,
    Thumbs.db) are skipped."""
    with os.scandir(folder) as entries:
        names = sorted(
            entry.name
            for entry in entries
            if entry.is_file() and not entry.name.startswith(".") and entry.name.lower().endswith(suffixes)
        )
    return [folder / name for name in names]


def train_counts(sizes: Sequence[int], parts: int = TRAIN_PARTS, whole: int = ALL_PARTS) -> list[int]:
    """Per-class train counts of a parts/whole split whose total is exactly floor(N * parts / whole).

    Each class gets floor(n * parts / whole); the images left over go one each to the classes with
    the largest remainders (ties to the earlier class), so the split stays stratified and the total
    matches the paper's (SUN397: floor(108,754 * 0.8) = 87,003; EuroSAT: 21,600).
    """
    counts = [size * parts // whole for size in sizes]
    missing = sum(sizes) * parts // whole - sum(counts)
    by_remainder = sorted(range(len(sizes)), key=lambda c: (-(sizes[c] * parts % whole), c))
    for c in by_remainder[:missing]:
        counts[c] += 1
    return counts


def seeded_split(sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """For each class of `sizes` images (in a fixed sorted order), a boolean mask of its train members:
    the paper-style 80/20 split of datasets the paper split but published no lists for (SUN397, EuroSAT).

    Class c draws its members with its own generator default_rng([seed, c]), so the split of one
    class never depends on the others' sizes beyond the count `train_counts` gives it.
    """
    masks = []
    for c, (size, count) in enumerate(zip(sizes, train_counts(sizes))):
        mask = np.zeros(size, dtype=bool)
        mask[np.random.default_rng([seed, c]).permutation(size)[:count]] = True
        masks.append(mask)
    return masks


def seeded_members(per_class: Sequence[Sequence[Path]], seed: int, train: bool) -> tuple[list[Path], list[int]]:
    """The train (or test) side of `seeded_split` over per-class sorted image lists: the paths in
    class order, then list order, and their labels (the class positions)."""
    masks = seeded_split([len(images) for images in per_class], seed)
    paths: list[Path] = []
    labels: list[int] = []
    for label, (images, mask) in enumerate(zip(per_class, masks)):
        chosen = [path for path, in_train in zip(images, mask) if in_train == train]
        paths += chosen
        labels += [label] * len(chosen)
    return paths, labels


def labels_by_name(
    names: Sequence[str], classes: Sequence[str], where: Sequence[Path | str], among: str, fix: str
) -> np.ndarray:
    """Each sample's label as the position of its class name in `classes` (what a head was trained
    on), so splits whose class lists differ in size or order still agree. A sample of a class that
    `classes` lacks could only be scored wrong: it is refused, naming the first such sample
    (`where` names each sample; `among` says whose classes, `fix` what to do)."""
    position = {name: label for label, name in enumerate(classes)}
    unseen = [sample for sample, name in enumerate(names) if name not in position]
    if unseen:
        first = unseen[0]
        raise UnseenClass(
            f"{where[first]}: class {names[first]} is not one of the {len(classes)} classes {among} "
            f"({len(unseen)} of {len(names)} images are of such classes); {fix}"
        )
    return np.asarray([position[name] for name in names], dtype=np.int64)


def listing_digest(root: Path, paths: Iterable[Path]) -> str:
    """sha256 over each file's path relative to `root` and its size: cheap enough for 1.3M images,
    and it changes when a file is added, removed, renamed or rewritten at another size."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
    return digest.hexdigest()


def file_sha256(path: Path, block_size: int = 1 << 22) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block_size):
            digest.update(chunk)
    return digest.hexdigest()


def combined_digest(*parts: str) -> str:
    """One sha256 over several digests, in order: how a reader joins its listing with the digests
    of its list and label files into one content digest."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


IGNORE = 255
"""The class-map value of pixels no loss or metric counts (Cityscapes void ids, the Pets trimap boundary)."""


class DenseReader(Reader):
    """A split whose samples carry a per-pixel target instead of (only) a class.

    TARGET says what `target(i)` holds, at the image's full resolution:

    - "classes": int64 (H, W) class map, values index `classes`, IGNORE (255) where unlabelled;
    - "depth": float32 (H, W) metres, NaN where the sensor or renderer gave no depth;
    - "flow": float32 (H, W, 3), channels u, v (pixels) and valid (0 or 1).

    Targets are decoded per call, never held, so a split of full-resolution maps costs no memory.
    `content_digest` and `image_ids` cover the images only: they key the feature cache, which the
    targets do not enter (and a dense task over the same images as a classification task shares
    its features). Targets are still checked to exist at construction, so a missing one fails early.
    For "depth" and "flow" `classes` is the single name [TARGET], matching the all-zero `labels()`.
    """

    TARGET: ClassVar[str]

    @abstractmethod
    def target(self, index: int) -> np.ndarray:
        """The per-pixel target of sample `index`, as TARGET describes."""

    def labels(self) -> np.ndarray:
        """Zeros, one per sample: a dense task has no per-sample class, so anything that draws a
        validation split stratified by label gets a plain seeded sample instead."""
        return np.zeros(len(self), dtype=np.int64)


class DenseFrameReader(DenseReader, FrameReader):
    """A DenseReader whose samples are FRAMES images (KITTI flow's frame pair); `target(s)` is per
    sample `s` (a row of `samples()`), expressed in the sample's first frame."""

    def labels(self) -> np.ndarray:
        """Zeros, one per sample (see DenseReader.labels)."""
        return np.zeros(len(self.samples()), dtype=np.int64)


def load_map(path: Path, grey: bool = False) -> np.ndarray:
    """Decode a single-channel label or depth image (8-bit, 16-bit or float TIFF) with its values
    kept (PIL keeps `I;16` and `F`); missing or unreadable files are reported by path. With `grey`,
    a colour image is accepted and converted to 8-bit luminance (for maps their dataset may store
    as RGB, as the original code's `convert('L')` allowed)."""
    try:
        with Image.open(path) as image:
            if grey and image.mode in ("RGB", "RGBA", "CMYK", "YCbCr"):
                image = image.convert("L")
            if image.mode not in ("L", "P", "I", "I;16", "I;16B", "F", "1"):
                raise DataCorrupt(
                    f"{path}: a {image.mode} image, expected a single-channel map; re-extract the annotations"
                )
            array = np.asarray(image)
    except FileNotFoundError:
        raise DataNotFound(f"{path}: missing target; the dataset folder is incomplete, re-extract it") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataCorrupt(f"{path}: cannot decode target ({error}); re-download the file") from None
    return array
