"""Every task of the image-level battery scored end to end from official-format fixtures, above its
trivial baseline (always predicting the most frequent training class)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from encoders import load_encoder
from harness.errors import ResultError
from harness.evaluate import ScoreOptions, score_task
from harness.plan import task_readers
from harness.prepare import head_labels
from tasks import get_task
from tasks.errors import UnseenClass
from tasks.synthetic import write_cifar100
from tests.writers.caltech import write_caltech101
from tests.writers.clevr import write_clevr
from tests.writers.dtd import DTD_CLASSES, write_dtd
from tests.writers.eurosat import write_eurosat
from tests.writers.imagenet import FIXTURE_WNIDS, write_imagenet, write_imagenet_v2
from tests.writers.kinetics import write_kinetics
from tests.writers.nuscenes import write_nuscenes_egomotion
from tests.writers.pets import write_pets
from tests.writers.sun397 import write_sun397
from tests.writers.thor import write_thor_egomotion, write_thor_num_steps

pytestmark = pytest.mark.e2e

WRITERS: dict[str, Callable[[Path], object]] = {
    "imagenet": lambda root: write_imagenet(root, n_train=12, n_val=4),
    "pets": lambda root: write_pets(root, n_classes=4, trainval_per_class=15, test_per_class=6),
    "caltech101": lambda root: write_caltech101(root, per_class=40),
    "cifar100": lambda root: write_cifar100(root, n_train=200, n_test=60),
    "sun397": lambda root: write_sun397(root, per_class=20),
    "eurosat": lambda root: write_eurosat(root, per_class=20),
    "dtd": lambda root: write_dtd(root, classes=DTD_CLASSES[:4], per_class=18),
    "kinetics": lambda root: write_kinetics(root, clips={"train": 20, "validate": 6}),
    "clevr_count": lambda root: write_clevr(root, n_train=120, n_val=48, width=96, height=64, counts=(3, 10)),
    "thor_num_steps": lambda root: write_thor_num_steps(root, n_train=100, n_val=40),
    "thor_egomotion": lambda root: write_thor_egomotion(root, n_train=100, n_val=40),
    "nuscenes_egomotion": lambda root: write_nuscenes_egomotion(root, n_train=100, n_test=40),
}


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("random:0")


def options(tmp_path: Path, data_root: Path) -> ScoreOptions:
    return ScoreOptions(
        data_root=data_root,
        cache_root=tmp_path / "cache",
        results_dir=tmp_path / "results",
        image_size=32,
        epochs=100,
        quiet=True,
    )


def majority_baseline(task_id: str, data_root: Path) -> float:
    readers = task_readers(get_task(task_id), data_root)
    mode = Counter(readers["train"].labels().tolist()).most_common(1)[0][0]
    test = readers["test"].labels().tolist()
    return test.count(mode) / len(test)


@pytest.mark.parametrize("task_id", sorted(WRITERS))
def test_task_scores_above_trivial_baseline(task_id: str, tmp_path: Path, encoder) -> None:
    data_root = tmp_path / "data"
    WRITERS[task_id](data_root)
    result, path = score_task(*encoder, get_task(task_id), options(tmp_path, data_root))
    baseline = majority_baseline(task_id, data_root)
    print(f"{task_id}: score {result['score']:.3f}, baseline {baseline:.3f}")
    assert result["score"] > baseline + 0.15, (result["score"], baseline)
    assert path.exists() and result["splits"]["test"] == len(
        task_readers(get_task(task_id), data_root)["test"].labels()
    )


def test_imagenet_v2_is_scored_with_the_imagenet_head(tmp_path: Path, encoder) -> None:
    """Six real classes in ImageNet's train/, their V2 folders named by the real standard index (0, 65,
    151, ...): the head's classes are matched by wnid, so V2 scores as ImageNet does (no 0.000)."""
    data_root = tmp_path / "data"
    write_imagenet(data_root, n_train=12, n_val=4)
    write_imagenet_v2(data_root, per_class=4)
    v2, _ = score_task(*encoder, get_task("imagenet_v2"), options(tmp_path, data_root))
    imagenet_files = list((tmp_path / "results").glob("*__imagenet__*.json"))
    assert len(imagenet_files) == 1, "scoring imagenet_v2 scores imagenet first"
    assert v2["splits"] == {"train": 0, "val": 0, "test": 24} and v2["hparams"]["scored_with"] == "imagenet"
    assert json.loads(imagenet_files[0].read_text())["classes"] == v2["classes"] == sorted(FIXTURE_WNIDS)
    assert v2["score"] > 1 / 6 + 0.15
    old = json.loads(imagenet_files[0].read_text())
    del old["classes"]
    imagenet_files[0].write_text(json.dumps(old))
    with pytest.raises(ResultError, match=f"{imagenet_files[0]}: records no classes for its heads"):
        score_task(*encoder, get_task("imagenet_v2"), dataclasses.replace(options(tmp_path, data_root), force=True))


def test_v2_labels_follow_the_head_classes_by_wnid_and_unseen_ones_are_refused(tmp_path: Path) -> None:
    task = get_task("imagenet_v2")
    write_imagenet_v2(tmp_path, per_class=2)
    reader = task_readers(task, tmp_path)["test"]
    head = sorted(FIXTURE_WNIDS)
    labels = torch.from_numpy(reader.labels())
    assert head_labels(task, reader, labels, head).tolist() == [k for k in range(6) for _ in range(2)]
    subset = [wnid for wnid in head if wnid != "n02085620"]  # Chihuahua, V2 folder 151
    first = reader.root / reader.image_ids()[4]
    assert first.parent.name == "151"
    with pytest.raises(UnseenClass) as refused:
        head_labels(task, reader, labels, subset)
    assert str(refused.value) == (
        f"{first}: class n02085620 is not one of the 5 classes the imagenet head was trained on (2 of 12 images "
        f"are of such classes); add those classes to imagenet's train split and rescore it with --force, or remove "
        f"their images from {reader.root}"
    )
