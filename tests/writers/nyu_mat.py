"""The official NYU Depth V2 labelled files in miniature: `nyu/nyu_depth_v2_labeled.mat` as MATLAB v7.3 writes it
(HDF5 behind a 512-byte user block with the MAT header; each variable stored with its axes reversed, so
h5py sees `images` (N, 3, W, H) uint8 and `depths` (N, W, H) float32, with a MATLAB_class attribute)
and `nyu/splits.mat` (MATLAB v5, `trainNdxs` and `testNdxs` as double column vectors of 1-based numbers).

Frames are `tests.writers.nyu.nyu_frame` with a column ramp added to green and to the depth, so no
frame is symmetric and a transposed or reshaped read shows.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy.io import savemat

from tests.writers.nyu import nyu_frame

TRAIN_NUMBERS, TEST_NUMBERS = (1, 3, 4, 6), (2, 5)
"""1-based frame numbers of each split, as splits.mat holds them."""
COUNTS = {"train": len(TRAIN_NUMBERS), "test": len(TEST_NUMBERS)}
MAT_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Tue Nov 18 10:00:00 2026 HDF5 schema 1.00 ."


def nyu_mat_frames(height: int = 16, width: int = 20, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image (H, W, 3) uint8, depth (H, W) float32 metres) of every frame, in frame order."""
    rng = np.random.default_rng(seed)
    columns = np.arange(width)[None, :]
    frames = []
    for _ in range(len(TRAIN_NUMBERS) + len(TEST_NUMBERS)):
        image, depth, _ = nyu_frame(rng, height, width)
        image[..., 1] = (columns * 255 // width).astype(np.uint8)
        depth[depth > 0] += (columns * 0.05).repeat(height, axis=0)[depth > 0]
        frames.append((image, depth.astype(np.float32)))
    return frames


def write_nyu_mat(root: Path, height: int = 16, width: int = 20, seed: int = 0) -> Path:
    """`root/nyu` holding the two official files with `nyu_mat_frames`; returns the data folder."""
    folder = root / "nyu"
    folder.mkdir(parents=True, exist_ok=True)
    frames = nyu_mat_frames(height, width, seed)
    path = folder / "nyu_depth_v2_labeled.mat"
    with h5py.File(path, "w", userblock_size=512) as mat:
        images = mat.create_dataset("images", data=np.stack([image.transpose(2, 1, 0) for image, _ in frames]))
        depths = mat.create_dataset("depths", data=np.stack([depth.T for _, depth in frames]))
        images.attrs["MATLAB_class"] = np.bytes_("uint8")
        depths.attrs["MATLAB_class"] = np.bytes_("single")
    with open(path, "r+b") as handle:
        handle.write(MAT_HEADER.ljust(116) + bytes(8) + b"\x00\x02IM")
    savemat(
        folder / "splits.mat",
        {
            "trainNdxs": np.array(TRAIN_NUMBERS, np.float64)[:, None],
            "testNdxs": np.array(TEST_NUMBERS, np.float64)[:, None],
        },
    )
    return folder
