"""Which of its K views an image trains on in each epoch (docs/PROTOCOL.md §4).

The original drew a fresh augmentation of every image each epoch, one per image, so an epoch was
N images and N / batch steps. With K views per image (cached, or drawn in the loop with K = the
epochs) ccbench keeps that shape: each epoch trains on one view per image. Views are dealt in
rounds of K epochs, each image seeing each of its views once per round in an order drawn from
default_rng([seed, round]) for every image at once, so a view is never repeated before all K were
seen, and the choice is a function of (seed, epoch, image) alone, the same in any run.
Validation reads one fixed view per image (view 0), so every epoch is scored on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SAMPLING = {True: "one view per image per epoch, each view once per K epochs", False: "one fixed view per image"}
"""The rule a result records (hparams.sampling), by whether there are several views to draw from."""


@dataclass(frozen=True)
class ViewSchedule:
    """Rows of a view reader of `images` images x `count` views (row = image * count + k)."""

    count: int
    images: int

    @property
    def sampling(self) -> str:
        return SAMPLING[self.count > 1]

    def views(self, seed: int, epoch: int) -> np.ndarray:
        """The view (0..K-1) every image trains on in `epoch` (1-based) for head seed `seed`."""
        if self.count == 1:
            return np.zeros(self.images, dtype=np.int64)
        round_, position = divmod(epoch - 1, self.count)
        orders = np.random.default_rng([seed, round_]).random((self.images, self.count)).argsort(axis=1)
        return orders[:, position]

    def rows(self, samples: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
        """Image indices (any order) -> the rows of their views for this seed and epoch."""
        picks = torch.from_numpy(self.views(seed, epoch))
        return samples * self.count + picks[samples]

    def fixed(self, samples: torch.Tensor) -> torch.Tensor:
        """The rows validation reads: view 0 of each image."""
        return samples * self.count
