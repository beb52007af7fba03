"""Linear CKA: its invariances, the streaming forms against a direct formula, the balanced subset,
and `ccbench cka` end to end on the tiny CIFAR-100 fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import cka
from harness.cka import FeatureCKA, Gram, SubsetReader, balanced_subset, gram_cka, linear_cka, use_gram
from harness.cli import main
from tasks.readers import Cifar100


def direct_cka(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC on centred Grams, written out: <HKH, HLH> / (||HKH|| ||HLH||)."""
    h = np.eye(len(x)) - 1.0 / len(x)
    k, m = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float((k * m).sum() / np.sqrt((k * k).sum() * (m * m).sum()))


def feature_space(x: np.ndarray, y: np.ndarray, chunk: int) -> float:
    accumulator = FeatureCKA(x.shape[1], y.shape[1])
    for start in range(0, len(x), chunk):
        accumulator.update(x[start : start + chunk], y[start : start + chunk])
    return accumulator.value()


def gram_space(x: np.ndarray, y: np.ndarray, chunk: int) -> float:
    grams = []
    for values in (x, y):
        gram = Gram(len(values))
        for start in range(0, values.shape[1], chunk):
            gram.update(values[:, start : start + chunk])
        grams.append(gram.centred())
    return gram_cka(*grams)


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two related representations with non-zero means, as ReLU features have."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 12)) + 3.0
    y = np.tanh(x @ rng.normal(size=(12, 7))) + rng.normal(scale=0.5, size=(60, 7))
    return x, y


@pytest.mark.parametrize("space", [feature_space, gram_space])
def test_cka_of_a_representation_with_itself_is_one(space, pair) -> None:
    x, _ = pair
    assert space(x, x, 16) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("space", [feature_space, gram_space])
def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(space, pair) -> None:
    x, y = pair
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(12, 12)))
    reference = space(x, y, 16)
    assert space(x @ q, y, 16) == pytest.approx(reference, abs=1e-10)
    assert space(x * 37.5, y * 0.01, 16) == pytest.approx(reference, abs=1e-10)


@pytest.mark.parametrize("chunk", [1, 7, 16, 60, 100])
def test_chunked_forms_match_the_direct_formula(chunk: int, pair) -> None:
    x, y = pair
    expected = direct_cka(x, y)
    assert 0.1 < expected < 0.99
    assert feature_space(x, y, chunk) == pytest.approx(expected, abs=1e-8)
    assert gram_space(x, y, chunk) == pytest.approx(expected, abs=1e-8)


def test_linear_cka_picks_the_smaller_space_and_both_agree() -> None:
    rng = np.random.default_rng(2)
    narrow, wide = rng.normal(size=(30, 5)), rng.normal(size=(30, 400))
    assert not use_gram(30, 5, 5) and use_gram(30, 5, 400)
    assert linear_cka(narrow, wide) == pytest.approx(feature_space(narrow, wide, 30), abs=1e-10)
    assert linear_cka(torch.from_numpy(narrow).half(), narrow.astype(np.float16)) == pytest.approx(1.0, abs=1e-12)


def test_independent_random_data_has_small_cka() -> None:
    rng = np.random.default_rng(3)
    assert linear_cka(rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))) < 0.02


def test_balanced_subset_is_balanced_sorted_and_seeded() -> None:
    labels = np.repeat(np.arange(10), [50] * 8 + [3, 100])
    chosen = balanced_subset(labels, 305, seed=4)
    assert len(chosen) == 305 == len(set(chosen)) and (np.diff(chosen) > 0).all()
    counts = np.bincount(labels[chosen], minlength=10)
    assert counts[8] == 3 and set(counts[:8]) | {counts[9]} <= {33, 34} and counts.sum() == 305
    assert (balanced_subset(labels, 305, seed=4) == chosen).all()
    assert not (balanced_subset(labels, 305, seed=5) == chosen).all()
    with pytest.raises(ValueError):
        balanced_subset(labels, len(labels) + 1, seed=0)


def test_subset_reader_names_its_own_image_set(tiny_cifar_root: Path) -> None:
    base = Cifar100(tiny_cifar_root / "cifar-100-python", "test")
    subset = SubsetReader(base, [3, 10, 11])
    assert len(subset) == 3 and (subset.image(1) == base.image(10)).all()
    assert subset.image_ids() == [base.image_ids()[i] for i in (3, 10, 11)]
    assert (subset.labels() == base.labels()[[3, 10, 11]]).all()
    assert subset.manifest_digest != base.manifest_digest
    assert subset.manifest_digest != SubsetReader(base, [3, 10, 12]).manifest_digest
    assert SubsetReader(base, range(len(base))).manifest_digest == base.manifest_digest


def run_cka(root: Path, tmp_path: Path, out: Path, *encoders: str) -> dict:
    """Both runs share one cache, so random:0 is extracted once."""
    assert (
        main(
            [
                "cka",
                "--encoders",
                *encoders,
                "--blocks",
                "layer3",
                "pool",
                "--task",
                "cifar100",
                "--images",
                "40",
                "--image-size",
                "32",
                "--data-root",
                str(root),
                "--cache",
                str(tmp_path / "cache"),
                "--results",
                str(tmp_path / "results"),
                "--out",
                str(out),
                "--quiet",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    (json_path,) = out.glob("*.json")
    assert json_path.with_suffix(".png").stat().st_size > 1000
    return json.loads(json_path.read_text())


@pytest.mark.e2e
def test_cli_writes_the_matrix_and_heatmap(
    tiny_cifar_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 images take Gram space for every pair; here the pooled pair (2048) goes through features.
    monkeypatch.setattr(cka, "use_gram", lambda n, d1, d2: max(d1, d2) > 2048)
    record = run_cka(tiny_cifar_root, tmp_path, tmp_path / "two", "random:0", "random:1")
    matrix = np.array(record["matrix"])
    assert matrix.shape == (2, 2) and ((0 <= matrix) & (matrix <= 1)).all()
    assert record["blocks"] == ["layer3", "pool"] and record["n"] == 40 and record["image_size"] == 32
    assert (record["task"], record["split"]) == ("cifar100", "test")
    assert [e["name"] for e in record["encoders"]] == ["random:0", "random:1"]
    assert record["encoders"][0]["fingerprint"] != record["encoders"][1]["fingerprint"]
    assert record["spaces"] == [["gram", "gram"], ["gram", "feature"]]
    same = run_cka(tiny_cifar_root, tmp_path, tmp_path / "same", "random:0", "random:0")
    assert np.diag(same["matrix"]) == pytest.approx([1.0, 1.0], abs=1e-9)


def test_cli_refuses_more_images_than_the_split_holds(
    tiny_cifar_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(
            [
                "cka",
                "--encoders",
                "random:0",
                "random:1",
                "--task",
                "cifar100",
                "--images",
                "61",
                "--data-root",
                str(tiny_cifar_root),
                "--cache",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "holds 60 images" in capsys.readouterr().err
