"""KITTI 2015 optical flow (the official data_scene_flow.zip, extracted)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_png

from tasks.errors import DataCorrupt, DataNotFound
from tasks.readers.base import DenseFrameReader, FileListFrameReader

FLOW_OFFSET, FLOW_SCALE = 2**15, 64.0
"""A flow PNG stores u and v as 2^15 + 64 * pixels in 16 bits (devkit readme)."""

TRAIN_TENTHS = 9
"""Tenths of the pairs in "train"; the rest are "test" (the original code's 180/20 of 200)."""
SPLIT_SEED = 0
"""Seed of the permutation that draws the train pairs, so the split is fixed and machine-independent."""

SUFFIX_T0, SUFFIX_T1 = "_10.png", "_11.png"


class KittiFlow2015(DenseFrameReader, FileListFrameReader):
    """KITTI 2015 optical flow on the 200 training pairs, the only ones with public ground truth.

    Tree under the task's data folder (`<data-root>/KITTI`, the original code's name; extract
    data_scene_flow.zip there)::

        KITTI/
            training/image_2/<NNNNNN>_10.png       left frame t (8-bit RGB, about 1242x375)
            training/image_2/<NNNNNN>_11.png       left frame t+1
            training/flow_occ/<NNNNNN>_10.png      16-bit RGB flow from t to t+1 (all pixels with GT)
            (testing/, image_3/, flow_noc/, disp_*/, obj_map/, viz_*/ are not read)

    Samples are the `<NNNNNN>` with a `_10` frame: a seeded draw (default_rng(0).permutation over
    the sorted ids) puts 9/10 in "train" (180 pairs) and the rest in "test" (20), the original
    code's sizes; each split keeps sorted order. The 200 pairs come from distinct sequences, so a
    random split leaks no scene. Each sample is the
    frames (_10, _11); `target(s)` is its flow_occ map as float32 (H, W, 3): u, v in pixels and
    valid in {0, 1}, with u = v = 0 where invalid.
    """

    SPLITS = ("train", "test")
    FRAMES = 2
    TARGET = "flow"
    LAYOUT = (
        "KITTI/training/image_2/<NNNNNN>_{10,11}.png and KITTI/training/flow_occ/<NNNNNN>_10.png "
        "(data_scene_flow.zip, extracted)"
    )

    def __init__(self, root: str | Path, split: str) -> None:
        super().__init__(root, split)
        self.classes = [self.TARGET]
        frames = self.require(self.root / "training" / "image_2")
        flows = self.require(self.root / "training" / "flow_occ")
        names = set(os.listdir(frames))
        ids = sorted(name[: -len(SUFFIX_T0)] for name in names if name.endswith(SUFFIX_T0))
        if not ids:
            raise DataNotFound(f"{frames}: no *{SUFFIX_T0} frames; expected {self.LAYOUT}")
        order = np.random.default_rng(SPLIT_SEED).permutation(len(ids))
        cut = len(ids) * TRAIN_TENTHS // 10
        ids = [ids[i] for i in sorted(order[:cut] if split == "train" else order[cut:])]
        present_flows = set(os.listdir(flows))
        for scene in ids:
            needed = ((frames, scene + SUFFIX_T1, names), (flows, scene + SUFFIX_T0, present_flows))
            for folder, name, present in needed:
                if name not in present:
                    raise DataNotFound(
                        f"{folder / name}: missing, though {frames / (scene + SUFFIX_T0)} exists; "
                        f"expected {self.LAYOUT}"
                    )
        self.index_frames(
            [(f"training/image_2/{scene}{SUFFIX_T0}", f"training/image_2/{scene}{SUFFIX_T1}") for scene in ids]
        )
        self._flow_paths = [flows / (scene + SUFFIX_T0) for scene in ids]

    def target(self, index: int) -> np.ndarray:
        return read_flow_png(self._flow_paths[index])


def read_flow_png(path: Path) -> np.ndarray:
    """Decode a KITTI flow PNG to float32 (H, W, 3) u, v, valid; torchvision keeps the 16 bits of
    all three channels (PIL would drop them to 8), in R, G, B order. Its decoders warn that they move
    to TorchCodec; that warning is silenced here, as it is no fault of the data."""
    try:
        data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            raw = decode_png(data, ImageReadMode.UNCHANGED)
    except FileNotFoundError:
        raise DataNotFound(f"{path}: missing flow map; re-extract data_scene_flow.zip") from None
    except RuntimeError as error:
        raise DataCorrupt(f"{path}: cannot decode flow PNG ({error}); re-extract data_scene_flow.zip") from None
    if raw.dtype != torch.uint16 or raw.shape[0] != 3:
        raise DataCorrupt(
            f"{path}: a {raw.shape[0]}-channel {raw.dtype} PNG, expected 16-bit RGB flow; "
            "re-extract data_scene_flow.zip"
        )
    channels = raw.numpy().astype(np.float32)
    valid = (channels[2] > 0).astype(np.float32)
    u = (channels[0] - FLOW_OFFSET) / FLOW_SCALE * valid
    v = (channels[1] - FLOW_OFFSET) / FLOW_SCALE * valid
    return np.stack([u, v, valid], axis=-1)
