"""Task specs are strict: unknown names and bad values are refused when the battery is built."""

from __future__ import annotations

import dataclasses

import pytest

from tasks import TASKS, UnknownTask, get_task
from tasks.readers import Cifar100


def test_cifar100_spec_matches_the_protocol() -> None:
    spec = get_task("cifar100")
    assert (
        spec.category,
        spec.head,
        spec.metric,
        spec.num_classes,
        spec.epochs,
        spec.batch_size,
        spec.lr,
        spec.optimizer,
        spec.image_size,
        spec.blocks,
    ) == ("semantic-image", "linear", "top1", 100, 100, 32, 3e-4, "adam", (224, 224), ("pool",))
    assert spec.domains == ("object",) and get_task("egohands_seg").domains == ("egocentric", "video")
    assert spec.reader is Cifar100 and spec.data_folder == "cifar-100-python"
    assert set(TASKS) >= {"cifar100"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"head": "mlp"}, "unknown head 'mlp'; valid values are linear"),
        ({"metric": "top5"}, "unknown metric 'top5'"),
        ({"category": "semantic"}, "unknown category"),
        ({"blocks": ("layer5",)}, "unknown block 'layer5'; valid values are stem, layer1"),
        ({"splits": {"train": "train"}}, "splits must name exactly"),
        ({"epochs": 0}, "epochs must be positive"),
        ({"val_fraction": 1.0}, "val_fraction must lie in"),
        ({"id": "cifar-100"}, "must be a Python identifier"),
        ({"domains": ("objects",)}, "unknown domain 'objects'; valid values are object, scene"),
        ({"domains": ()}, "domains must be a non-empty tuple"),
        ({"domains": ("video", "video")}, "without repeats"),
        ({"domains": "object"}, "domains must be a non-empty tuple"),
    ],
)
def test_bad_specs_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(get_task("cifar100"), **change)


def test_spec_is_frozen_and_unknown_fields_refused() -> None:
    spec = get_task("cifar100")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.epochs = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        dataclasses.replace(spec, learning_rate=0.1)


def test_unknown_task_suggests_the_nearest() -> None:
    with pytest.raises(UnknownTask, match="Did you mean: cifar100"):
        get_task("cifar10")
