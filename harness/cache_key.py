"""The identity of a feature store: everything that changes its contents, hashed into its path."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CACHE_FORMAT = 2
"""Bumped whenever the store layout or the way features are computed changes: the format enters
every key, so stores of an older format simply stop matching (they are never read, and `ccbench
cache rm` removes them). 2: one shard file per commit unit and the flags in one file (was a file
per image and a flag file per unit)."""


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the same content always hashes alike."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def digest(value: Any) -> str:
    """sha256 of a JSON-able value's canonical form."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """One block of one encoder over one image set, under one preprocessing and view.

    `images` is the reader's manifest digest (ordered sample ids plus the source files' digest),
    so another image set, order or edited file gives another store; the encoder enters by its
    weights' fingerprint, never by its name. `compute` is how the encoder ran (harness.compute:
    fp32, bf16-cl), so bfloat16 features never stand in for float32 ones; where the pixels come
    from another decoder than PIL, the preprocessing record names it (`decoder`).
    """

    encoder: str
    images: str
    n_images: int
    preprocessing: str
    block: str
    view: str = "clean"
    dtype: str = "float16"
    compute: str = "fp32"
    format: int = CACHE_FORMAT

    @classmethod
    def build(
        cls,
        encoder: str,
        images: str,
        n_images: int,
        preprocessing: dict,
        block: str,
        view: str = "clean",
        compute: str = "fp32",
        decoder: str | None = None,
    ) -> CacheKey:
        """A key from the preprocessing record (kept as canonical JSON so the key stays hashable);
        a `decoder` other than PIL enters the record, which PIL-decoded keys (all older ones) lack."""
        record = preprocessing if decoder is None else {**preprocessing, "decoder": decoder}
        return cls(
            encoder=encoder,
            images=images,
            n_images=n_images,
            preprocessing=canonical_json(record),
            block=block,
            view=view,
            compute=compute,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def digest(self) -> str:
        return digest(self.to_dict())

    def relpath(self) -> Path:
        """Where the store lives under the cache root: fanned out by the digest's first byte."""
        return Path("features") / self.digest[:2] / f"{self.digest}.zarr"
