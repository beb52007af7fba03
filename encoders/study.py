"""The encoders of the study (docs/PROTOCOL.md section 5, the paper's Table 3) as metadata records, so
a user holding one of those weight files gets its method and pre-training facts filled in by name.

Names read "<method> <pre-training data> <epochs>", e.g. "MoCo v2 ImageNet 200" (spaces and case
are ignored when looking a name up, so "MoCov2 ImageNet 200" finds it too).
"""
from __future__ import annotations

from dataclasses import dataclass

FULL, HALF, QUARTER = 1_300_000, 500_000, 250_000
"""Pre-training set sizes as the protocol gives them: full sets, halves and quarters."""


@dataclass(frozen=True)
class StudyEncoder:
    name: str
    method: str
    pretrain_data: str
    pretrain_images: int | None
    pretrain_epochs: int | None


_SELF_SUPERVISED_RUNS = (
    ("ImageNet", FULL, (800, 200, 100, 50)),
    ("ImageNet-1/2", HALF, (200, 100)),
    ("ImageNet-1/4", QUARTER, (200,)),
    ("ImageNet-1/2-Lin", 500_500, (200, 100)),
    ("ImageNet-1/4-Log", QUARTER, (200,)),
    ("Places", FULL, (200,)),
    ("Kinetics", FULL, (200,)),
    ("Taskonomy", FULL, (200,)),
    ("Combination", FULL, (200,)),
)


def _study() -> tuple[StudyEncoder, ...]:
    runs = [StudyEncoder(f"{method} {data} {epochs}", method, data, images, epochs)
            for method in ("SwAV", "MoCo v2") for data, images, all_epochs in _SELF_SUPERVISED_RUNS
            for epochs in all_epochs]
    runs += [StudyEncoder("MoCo v1 ImageNet 200", "MoCo v1", "ImageNet", FULL, 200),
             StudyEncoder("PIRL ImageNet 800", "PIRL", "ImageNet", FULL, 800),
             StudyEncoder("Supervised ImageNet", "supervised", "ImageNet", FULL, None),
             StudyEncoder("Random", "random", "none", 0, 0)]
    return tuple(runs)


STUDY: tuple[StudyEncoder, ...] = _study()


def _key(name: str) -> str:
    return "".join(name.lower().split())


_BY_KEY = {_key(encoder.name): encoder for encoder in STUDY}
if len(_BY_KEY) != len(STUDY):
    raise RuntimeError("duplicate study encoder name")


def study_encoder(name: str) -> StudyEncoder | None:
    """The study's record for `name`, or None for an encoder outside the study."""
    return _BY_KEY.get(_key(name))

