"""Head training: cache/encoder-in-the-loop parity, determinism, validation split, metric."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from encoders import Preprocessing, load_encoder
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.extract import extract
from harness.grid import GridPoint
from harness.heads import build_head
from harness.metrics import Top1, build_metric
from harness.sources import EncoderFeatures, InMemoryFeatures
from harness.train import TrainConfig, evaluate_heads, select, stratified_split, train_grid
from tasks.readers import Cifar100

PRE = Preprocessing(size=(32, 32))


def test_stratified_split_is_fixed_balanced_and_disjoint() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20 + [3] * 1)
    train, val = stratified_split(labels, 0.1, seed=0)
    again_train, again_val = stratified_split(labels, 0.1, seed=0)
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert set(train.tolist()).isdisjoint(val.tolist()) and len(train) + len(val) == len(labels)
    assert torch.bincount(labels[val], minlength=4).tolist() == [5, 3, 2, 0]
    assert not torch.equal(val, stratified_split(labels, 0.1, seed=1)[1])


def test_top1_counts_every_sample() -> None:
    metric = build_metric("top1")
    metric.update(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), torch.tensor([0, 1, 1]))
    metric.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    assert metric.compute() == pytest.approx(3 / 4) and Top1.higher_is_better
    with pytest.raises(ValueError, match="empty"):
        Top1().compute()


def test_top1_bootstrap_interval_brackets_the_score_and_narrows_with_samples() -> None:
    def metric_for(n: int) -> Top1:
        metric = Top1()
        targets = torch.zeros(n, dtype=torch.long)
        outputs = torch.zeros(n, 2)
        outputs[: int(0.7 * n), 0] = 1.0  # 70% correct
        outputs[int(0.7 * n) :, 1] = 1.0
        metric.update(outputs, targets)
        return metric

    small, large = metric_for(100), metric_for(2000)
    low, high = small.interval()
    assert small.compute() == pytest.approx(0.7) and low < 0.7 < high and small.interval() == (low, high)
    large_low, large_high = large.interval()
    assert large_low < 0.7 < large_high and (large_high - large_low) < (high - low) / 3
    assert 0.55 < low and high < 0.85


def separable(n: int, seed: int) -> tuple[InMemoryFeatures, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    centers = torch.randn(4, 2048, generator=generator)
    features = centers[labels] + 0.5 * torch.randn(n, 2048, generator=generator)
    return InMemoryFeatures({"pool": features}), labels


ADAM = GridPoint("adam", 3e-4)


def test_same_seed_same_head_and_best_epoch_is_restored() -> None:
    source, labels = separable(200, 0)
    train, val = stratified_split(labels, 0.2, 0)
    config = TrainConfig(32, 4, "cross_entropy", "top1", seed=5)
    outcomes, heads = [], []
    for _ in range(2):
        head = build_head("linear", 4, seed=5)
        outcomes.extend(train_grid([head], [ADAM], source, labels, train, val, config))
        heads.append(head)
    assert torch.equal(heads[0].fc.weight, heads[1].fc.weight)
    assert outcomes[0].val_curve == outcomes[1].val_curve and len(outcomes[0].val_curve) == 4
    best = outcomes[0]
    assert best.best_val == max(best.val_curve) and best.val_curve[best.best_epoch - 1] == best.best_val
    assert evaluate_heads([heads[0]], source, labels, val, "top1")[0].compute() == best.best_val
    other = build_head("linear", 4, seed=6)
    train_grid([other], [ADAM], source, labels, train, val, TrainConfig(32, 4, "cross_entropy", "top1", seed=6))
    assert not torch.equal(other.fc.weight, heads[0].fc.weight)


@pytest.mark.e2e
def test_head_from_cache_matches_encoder_in_the_loop(tiny_cifar_root: Path, tmp_path: Path) -> None:
    """The cache changes nothing but float16 rounding: same batches, same steps, same predictions."""
    trunk, spec = load_encoder("random:0")
    reader = Cifar100(tiny_cifar_root / "cifar-100-python", "train")
    key = CacheKey.build(spec.fingerprint, reader.manifest_digest, len(reader), PRE.key(), "pool")
    store = FeatureStore.open_for_write(tmp_path, key, (2048,), "cifar/train")
    extract(trunk, reader, PRE, {"pool": store}, "cifar/train", batch_size=50)
    cached = InMemoryFeatures({"pool": torch.from_numpy(FeatureStore.open_complete(tmp_path, key).read_all())})
    online = EncoderFeatures(trunk, reader, PRE, ("pool",))
    labels = torch.from_numpy(reader.labels())
    train, val = stratified_split(labels, 0.2, 0)
    config = TrainConfig(32, 3, "cross_entropy", "top1", seed=0)
    heads = {}
    for name, source in (("cached", cached), ("online", online)):
        heads[name] = build_head("linear", 100, seed=0)
        train_grid([heads[name]], [ADAM], source, labels, train, val, config)
    a, b = heads["cached"].fc.weight, heads["online"].fc.weight
    assert not torch.equal(a, b), "identical weights would mean the cache was not exercised"
    assert (a - b).abs().max() <= 2e-3 * a.abs().max()
    with torch.no_grad():
        logits_cached = heads["cached"](online.batch(val))
        logits_online = heads["online"](online.batch(val))
    assert torch.allclose(logits_cached, logits_online, rtol=1e-2, atol=1e-2 * float(logits_online.abs().max()))
    agree = (logits_cached.argmax(1) == logits_online.argmax(1)).float().mean()
    assert agree >= 0.95


PAPER = (
    GridPoint("adam", 3e-4),
    GridPoint("adam", 1e-4),
    GridPoint("adam", 1e-3),
    GridPoint("sgd", 1e-2),
    GridPoint("sgd", 1e-3),
)


@pytest.mark.parametrize("head_name, frames", [("linear", 1), ("fusion", 2)])
def test_stacked_grid_equals_each_point_trained_alone(head_name: str, frames: int) -> None:
    source, labels = separable(160, 1)
    if frames > 1:  # pair each sample with a second frame: (S, 2) indices into the 160 frames
        samples = torch.stack([torch.arange(80), torch.arange(80, 160)], dim=1)
        source = InMemoryFeatures(source.blocks, samples=samples)
        labels = labels[:80]
    train, val = stratified_split(labels, 0.25, 0)
    config = TrainConfig(16, 3, "cross_entropy", "top1", seed=7)
    stacked = [build_head(head_name, 4, seed=7, frames=frames) for _ in PAPER]
    together = train_grid(stacked, PAPER, source, labels, train, val, config)
    for point, head, outcome in zip(PAPER, stacked, together):
        alone_head = build_head(head_name, 4, seed=7, frames=frames)
        (alone,) = train_grid([alone_head], [point], source, labels, train, val, config)
        assert alone.val_curve == outcome.val_curve and alone.best_epoch == outcome.best_epoch
        for name, value in alone_head.state_dict().items():
            torch.testing.assert_close(value, head.state_dict()[name], rtol=1e-6, atol=1e-7)
    assert len({o.point.name for o in together}) == 5
    best = select(together)
    assert together[best].best_val == max(o.best_val for o in together)


def test_selection_prefers_the_first_point_on_ties() -> None:
    from harness.train import TrainOutcome

    outcomes = [TrainOutcome(p, 1, v, {}) for p, v in zip(PAPER, [0.5, 0.7, 0.7, 0.1, 0.7])]
    assert select(outcomes) == 1


def test_fusion_head_keeps_frame_order() -> None:
    head = build_head("fusion", 5, seed=0, frames=2)
    assert sum(p.numel() for p in head.parameters()) == 2 * 2048 * 512 + 512 + 512 * 5 + 5
    a, b = torch.randn(3, 2048), torch.randn(3, 2048)
    forward = head({"pool": torch.stack([a, b], 1)})
    backward = head({"pool": torch.stack([b, a], 1)})
    assert forward.shape == (3, 5) and not torch.allclose(forward, backward)
    with pytest.raises(ValueError, match=r"expects \(B, 2, C\)"):
        head({"pool": a})
