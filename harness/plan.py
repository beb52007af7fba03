"""Plan extraction before touching the encoder: the image sets, preprocessing and blocks tasks need.

Jobs over the same images and preprocessing merge, so an image set shared by several tasks is
encoded once for the union of their blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from encoders import EncoderSpec, Preprocessing, block_shape
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.compute import FP32
from harness.loader import key_decoder
from tasks import TaskSpec
from tasks.readers import Reader


@dataclass
class ExtractionJob:
    """One image set under one preprocessing: the blocks to cache and their store keys."""

    image_set: str
    reader: Reader
    preprocessing: Preprocessing
    keys: dict[str, CacheKey] = field(default_factory=dict)

    def item_shape(self, block: str) -> tuple[int, ...]:
        return block_shape(block, self.preprocessing.size)

    def pending_blocks(self, cache_root: Path) -> list[str]:
        """Blocks whose store is absent, unfinished, unreadable or missing chunk files."""
        return [b for b, key in self.keys.items() if not FeatureStore.ready(cache_root, key)]


def task_preprocessing(encoder: EncoderSpec, task: TaskSpec, image_size: int | None = None) -> Preprocessing:
    """The task's input size with the encoder's own normalisation: the user's override, else the
    task's crop size for crop-view tasks or its image size (an override of a crop task sets its crop
    size, which is the size the encoder sees there)."""
    own = (task.crop_size, task.crop_size) if task.view == "crop" else task.image_size
    size = (image_size, image_size) if image_size else own
    base = encoder.preprocessing
    return Preprocessing(size=size, interpolation=base.interpolation, mean=base.mean, std=base.std)


def task_readers(task: TaskSpec, data_root: Path, roles: tuple[str, ...] | None = None) -> dict[str, Reader]:
    """Open the task's splits (all, or `roles`); each reader checks its files at once."""
    folder = Path(data_root) / task.data_folder
    return {role: task.reader(folder, split) for role, split in task.splits.items() if roles is None or role in roles}


def plan(
    encoder: EncoderSpec,
    tasks: Iterable[TaskSpec],
    readers: dict[str, dict[str, Reader]],
    image_size: int | None = None,
    compute: str = FP32,
    decode: str = "pil",
    device: str = "cpu",
) -> dict[tuple[str, str], ExtractionJob]:
    """Jobs keyed by (task id, role); tasks over the same images and preprocessing share one job.
    `compute`, and the decoder where `decode` on `device` changes the pixels, enter every key."""
    jobs: dict[tuple[str, str], ExtractionJob] = {}
    by_identity: dict[tuple[str, str], ExtractionJob] = {}
    for task in tasks:
        preprocessing = task_preprocessing(encoder, task, image_size)
        for role, reader in readers[task.id].items():
            manifest = reader.manifest_digest
            identity = (manifest, repr(preprocessing.key()))
            job = by_identity.setdefault(
                identity,
                ExtractionJob(
                    image_set=f"{task.data_folder}/{reader.split}", reader=reader, preprocessing=preprocessing
                ),
            )
            for block in task.blocks:
                job.keys.setdefault(
                    block,
                    CacheKey.build(
                        encoder.fingerprint,
                        manifest,
                        len(reader),
                        preprocessing.key(),
                        block,
                        compute=compute,
                        decoder=key_decoder(decode, device, reader),
                    ),
                )
            jobs[(task.id, role)] = job
    return jobs
