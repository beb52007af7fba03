"""Batches of network inputs from a reader, in index order, decoded one of three ways:

- `pil`: `reader.image` (PIL) in DataLoader workers, then resized there;
- `jpeg`: a reader's JPEG files (`Reader.encoded`) decoded by torchvision's libjpeg-turbo in the
  workers: the same pixels as PIL (tests/test_extraction.py), measured 1.5x faster on the CPU;
- `device`: the workers only read the files and one batched `torchvision.io.decode_jpeg` decodes
  them on the extraction device (nvjpeg on CUDA, whose pixels may differ from PIL's: the cache key
  then says so, `key_decoder`), resized there too.

Images without such a file (arrays, crops, PNG, CMYK or 12-bit JPEGs) take the `pil` way on every
path, so the choice never changes which images are read, only who decodes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_jpeg

from encoders import Preprocessing
from tasks.errors import DataError
from tasks.readers import Reader

DECODES = ("pil", "jpeg", "device")
HUFFMAN_FRAMES = (0xC0, 0xC1, 0xC2)
"""Start-of-frame markers of the 8-bit Huffman JPEGs every decoder here reads alike (baseline,
extended, progressive); arithmetic-coded and lossless files go to PIL."""
DECODED_CHANNELS = (1, 3)
"""Grey and YCbCr/RGB JPEGs; CMYK (4) goes to PIL, whose conversion to RGB is the reference."""


def resolve_decode(choice: str, device: str) -> str:
    """`auto` -> `device` on CUDA (the host's cores cannot decode as fast as a GPU encodes), else
    `jpeg` (same pixels as PIL, faster); any of DECODES as given."""
    if choice == "auto":
        return "device" if torch.device(device).type == "cuda" else "jpeg"
    if choice not in DECODES:
        raise ValueError(f"unknown decode {choice!r}; valid values are auto, {', '.join(DECODES)}")
    return choice


def key_decoder(decode: str, device: str, reader: Reader) -> str | None:
    """What the cache key's preprocessing records of the decoder: `nvjpeg` when a reader's JPEGs are
    decoded on a CUDA device, None where the pixels are PIL's (the other paths, or no JPEG files)."""
    cuda = torch.device(device).type == "cuda"
    return "nvjpeg" if decode == "device" and cuda and type(reader).encoded is not Reader.encoded else None


def jpeg_channels(data: bytes) -> int | None:
    """The channel count of an 8-bit Huffman JPEG from its frame header, None for any other file."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        if marker == 0xDA:  # scan data before any frame header
            return None
        if marker in HUFFMAN_FRAMES:
            return data[at + 9] if at + 10 <= len(data) and data[at + 4] == 8 else None
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def jpeg_bytes(reader: Reader, index: int) -> torch.Tensor | None:
    """Image `index`'s JPEG as a uint8 tensor when every decoder here reads it, else None."""
    data = reader.encoded(index)
    if data is None or jpeg_channels(data) not in DECODED_CHANNELS:
        return None
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def as_rgb(pixels: torch.Tensor) -> torch.Tensor:
    """A decoded (C, H, W) JPEG as (1, 3, H, W): grey replicated, as PIL's convert('RGB') does, laid
    out channels-last as PIL's (H, W, 3) arrays arrive, so the resize computes exactly alike."""
    rgb = pixels.expand(3, -1, -1)[None] if pixels.shape[0] == 1 else pixels[None]
    return rgb.contiguous(memory_format=torch.channels_last)


class ImageDataset(Dataset):
    """Images of a reader at the given indices, decoded in workers (or only read, for `device`).

    A dataset error (a corrupt or missing image) travels back as data with its batch and is raised
    in the main process (`image_loader`), so the user gets its one line: raised in a worker,
    PyTorch would wrap it into a message holding the worker's whole traceback. An item's tensor is
    the network input (3, H', W'), or for `device` the file's bytes (1-D uint8)."""

    def __init__(
        self, reader: Reader, indices: Sequence[int], preprocessing: Preprocessing, decode: str = "pil"
    ) -> None:
        self.reader, self.indices, self.preprocessing, self.decode = reader, list(indices), preprocessing, decode

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor | None, DataError | None]:
        index = self.indices[position]
        try:
            return index, self._item(index), None
        except DataError as error:
            return index, None, error

    def _item(self, index: int) -> torch.Tensor:
        data = jpeg_bytes(self.reader, index) if self.decode != "pil" else None
        if data is not None and self.decode == "device":
            return data
        if data is not None:
            try:
                pixels = as_rgb(decode_jpeg(data, mode=ImageReadMode.UNCHANGED))
            except RuntimeError:  # a damaged file: PIL below names it
                pixels = None
            if pixels is not None:
                return self.preprocessing.normalize(self.preprocessing.resize_pixels(pixels))[0]
        return self.preprocessing(self.reader.image(index))


class Batch(NamedTuple):
    """A batch in index order: its rows, the inputs decoded in workers (zeros where `encoded` holds
    the position and bytes of a file left to the device), or the first dataset error."""

    rows: torch.Tensor
    images: torch.Tensor
    encoded: list[tuple[int, torch.Tensor]]
    error: DataError | None


def collate(items: list[tuple[int, torch.Tensor | None, DataError | None]]) -> Batch:
    """Stack a batch's inputs, leaving file bytes aside for the device (run in the worker)."""
    for _, _, error in items:
        if error is not None:
            return Batch(torch.empty(0), torch.empty(0), [], error)
    decoded = next((value for _, value, _ in items if value.dtype != torch.uint8), None)
    shape = (len(items), *decoded.shape) if decoded is not None else (len(items), 0)
    images = torch.zeros(shape) if decoded is not None else torch.empty(shape)
    encoded = []
    for position, (_, value, _) in enumerate(items):
        if value.dtype == torch.uint8:
            encoded.append((position, value))
        else:
            images[position] = value
    return Batch(torch.tensor([index for index, _, _ in items]), images, encoded, None)


def to_device(
    batch: Batch, preprocessing: Preprocessing, device: str, memory_format: torch.memory_format
) -> torch.Tensor:
    """The batch's network inputs on `device` (copied without blocking from pinned memory on CUDA),
    its JPEG files decoded there in one call, in `memory_format`."""
    images = batch.images.to(device, non_blocking=True)
    if batch.encoded:
        size = (len(batch.rows), 3, *preprocessing.size)
        placed = torch.zeros(size, device=device) if images.shape != size else images
        decoded = decode_jpeg([data for _, data in batch.encoded], mode=ImageReadMode.UNCHANGED, device=device)
        for (position, _), pixels in zip(batch.encoded, decoded, strict=True):
            placed[position] = preprocessing.normalize(preprocessing.resize_pixels(as_rgb(pixels)))[0]
        images = placed
    return images.contiguous(memory_format=memory_format)


def image_loader(
    reader: Reader,
    indices: Sequence[int],
    preprocessing: Preprocessing,
    batch_size: int,
    workers: int,
    decode: str = "pil",
    device: str = "cpu",
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(rows, inputs on `device`) in index order; workers decode while the encoder runs. A dataset
    error is raised here, in the main process."""
    loader = DataLoader(
        ImageDataset(reader, indices, preprocessing, decode),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
        collate_fn=collate,
        pin_memory=torch.device(device).type == "cuda",
    )
    for batch in loader:
        if batch.error is not None:
            raise batch.error
        yield batch.rows, to_device(batch, preprocessing, device, memory_format)
