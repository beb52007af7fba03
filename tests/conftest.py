"""Shared fixtures: tiny official-format datasets and per-test cache and results folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tasks.synthetic import write_cifar100

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learnable CIFAR-100-format data root: 600 train / 200 test images, written once per session."""
    root = tmp_path_factory.mktemp("data")
    write_cifar100(root, n_train=600, n_test=200, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smaller one (300 / 60) for tests that only need the mechanics."""
    root = tmp_path_factory.mktemp("tiny")
    write_cifar100(root, n_train=300, n_test=60, seed=1)
    return root
