"""The encoders of the study (docs/PROTOCOL.md section 5, the paper's Table 3) as metadata records, so
a user holding one of those weight files gets its method and pre-training facts filled in by name, and
the image domain of each pre-training dataset, which every result records for the leaderboard.

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


MIXED = "mixed"
"""The domain of data drawn from several domains at once (Combination): like no single task's images."""

_SELF_SUPERVISED_RUNS = (  # pretrain_data, its size, the epochs of its runs, its image domain
    ("ImageNet", FULL, (800, 200, 100, 50), "object"),
    ("ImageNet-1/2", HALF, (200, 100), "object"),
    ("ImageNet-1/4", QUARTER, (200,), "object"),
    ("ImageNet-1/2-Lin", 500_500, (200, 100), "object"),
    ("ImageNet-1/4-Log", QUARTER, (200,), "object"),
    ("Places", FULL, (200,), "scene"),
    ("Kinetics", FULL, (200,), "video"),
    ("Taskonomy", FULL, (200,), "indoor"),
    ("Combination", FULL, (200,), MIXED),
)
_RELEASES = {"Places205": "scene", "Places365": "scene"}
"""Releases of a study dataset that a user may name in --pretrain-data instead."""

PRETRAIN_DOMAINS: dict[str, str] = {data.lower(): domain for data, _, _, domain in _SELF_SUPERVISED_RUNS} | {
    name.lower(): domain for name, domain in _RELEASES.items()
}
"""docs/PROTOCOL.md section 6 item 5: the image domain (one of tasks.spec.DOMAINS, or MIXED) of each
pre-training dataset by lower-cased pretrain_data; every result records its encoder's, so the leaderboard
needs no copy."""


def pretrain_domain(pretrain_data: str | None) -> str | None:
    """The domain of a pretrain_data name (any case), None when unknown (e.g. 'none' for a random init)."""
    return PRETRAIN_DOMAINS.get((pretrain_data or "").strip().lower())


def _study() -> tuple[StudyEncoder, ...]:
    runs = [
        StudyEncoder(f"{method} {data} {epochs}", method, data, images, epochs)
        for method in ("SwAV", "MoCo v2")
        for data, images, all_epochs, _ in _SELF_SUPERVISED_RUNS
        for epochs in all_epochs
    ]
    runs += [
        StudyEncoder("MoCo v1 ImageNet 200", "MoCo v1", "ImageNet", FULL, 200),
        StudyEncoder("PIRL ImageNet 800", "PIRL", "ImageNet", FULL, 800),
        StudyEncoder("Supervised ImageNet", "supervised", "ImageNet", FULL, None),
        StudyEncoder("Random", "random", "none", 0, 0),
    ]
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
