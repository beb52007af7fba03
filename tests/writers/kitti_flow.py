"""KITTI 2015 flow fixtures in the official layout: `training/image_2/<NNNNNN>_{10,11}.png` and
`training/flow_occ/<NNNNNN>_10.png` (16-bit RGB), plus a `testing/image_2` pair that must be ignored.

Frame 10 is smooth random texture; frame 11 is frame 10 moved by a per-pair integer (du, dv), so the
flow is exact: u = du, v = dv wherever the moved pixel stays in the image, invalid elsewhere.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_png16_rgb(array: np.ndarray, path: Path) -> None:
    """Write an (H, W, 3) uint16 array as a 16-bit RGB PNG (PIL cannot): signature, IHDR, one
    zlib-compressed IDAT of filter-0 big-endian rows, IEND."""
    height, width, _ = array.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = array.astype(">u2").reshape(height, width * 6 // 2).view(np.uint8).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def encode_flow(u: np.ndarray, v: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """KITTI's 16-bit encoding: channels 2^15 + 64 u, 2^15 + 64 v, valid."""
    return np.stack([np.round(u * 64 + 2**15), np.round(v * 64 + 2**15), valid], axis=-1).astype(np.uint16)


def shift(scene: int) -> tuple[int, int]:
    """The (du, dv) of pair `scene`."""
    return scene % 4 + 1, -(scene % 3)


def write_kitti_flow(
    root: Path,
    pairs: int = 10,
    height: int = 16,
    width: int = 24,
    seed: int = 0,
    constant: tuple[int, int] | None = None,
) -> Path:
    """`root/KITTI` with `pairs` training pairs (ids 000000...), each moved by `shift(scene)` or by
    `constant` for all; returns the data folder."""
    folder = root / "KITTI"
    training = folder / "training"
    (training / "image_2").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    for scene in range(pairs):
        coarse = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
        frame = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
        du, dv = constant or shift(scene)
        moved = np.zeros_like(frame)
        inside = (yy + dv >= 0) & (yy + dv < height) & (xx + du >= 0) & (xx + du < width)
        moved[(yy + dv)[inside], (xx + du)[inside]] = frame[inside]
        Image.fromarray(frame).save(training / "image_2" / f"{scene:06d}_10.png")
        Image.fromarray(moved).save(training / "image_2" / f"{scene:06d}_11.png")
        flow = encode_flow(np.full((height, width), du), np.full((height, width), dv), inside)
        write_png16_rgb(flow, training / "flow_occ" / f"{scene:06d}_10.png")
    (folder / "testing" / "image_2").mkdir(parents=True, exist_ok=True)
    for suffix in ("10", "11"):
        Image.new("RGB", (width, height)).save(folder / "testing" / "image_2" / f"000000_{suffix}.png")
    return folder
