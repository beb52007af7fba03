"""Per-epoch training views: one of K views per image each epoch, reproducible from the seed; the
planner's K within the cache budget; Cityscapes' rescaled and mirrored crops aligned with their
targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.calibration import Calibration
from harness.costs import VIEW_CAP, cached_views, estimate, stored_bytes
from harness.dense import planned_views, training_reader
from harness.grid import GridPoint
from harness.heads import build_head
from harness.options import ScoreOptions
from harness.sources import InMemoryFeatures
from harness.train import TrainConfig, train_grid
from harness.view_schedule import ViewSchedule
from tasks import get_task
from tasks.readers import CityscapesSegmentation
from tasks.views import CropDraw, CropViews, crop_views
from tests.writers.cityscapes import write_cityscapes


def test_each_epoch_takes_one_view_per_image_and_a_round_of_k_epochs_takes_them_all() -> None:
    schedule = ViewSchedule(count=4, images=50)
    samples = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    epochs = [schedule.rows(samples, seed=0, epoch=epoch) for epoch in range(1, 9)]
    for rows in epochs:
        assert torch.equal(rows // 4, samples), "one row per image, in the shuffled order given"
    views = torch.stack([rows % 4 for rows in epochs])  # (epoch, image)
    for round_ in (views[:4], views[4:]):
        assert torch.equal(round_.sort(dim=0).values, torch.arange(4)[:, None].expand(4, 50)), (
            "each image sees each of its views once per round of K epochs"
        )
    assert (views[0] != views[1]).float().mean() > 0.5, "views change between epochs"
    assert (views[:4] != views[4:]).any(), "each round deals the views in a new order"
    again = [schedule.rows(samples, seed=0, epoch=epoch) for epoch in range(1, 9)]
    other = [schedule.rows(samples, seed=1, epoch=epoch) for epoch in range(1, 9)]
    assert all(torch.equal(a, b) for a, b in zip(epochs, again)), "reproducible from the seed"
    assert any(not torch.equal(a, b) for a, b in zip(epochs, other)), "another seed, other views"
    assert torch.equal(schedule.fixed(torch.tensor([0, 3])), torch.tensor([0, 12]))
    single = ViewSchedule(count=1, images=50)
    assert torch.equal(single.rows(samples, 0, 7), samples) and "fixed" in single.sampling


class RecordingFeatures(InMemoryFeatures):
    """In-memory features that note every batch of rows they serve."""

    def __init__(self, blocks: dict[str, torch.Tensor]) -> None:
        super().__init__(blocks)
        self.served: list[torch.Tensor] = []

    def batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        self.served.append(rows.clone())
        return super().batch(rows)


def _train_rows(seed: int, epochs: int, images: int, views: int, batch: int, val: int) -> list[torch.Tensor]:
    """Rows of every training batch of a linear head on `images` x `views` rows (validation
    batches, of `val` rows each, left out)."""
    generator = torch.Generator().manual_seed(0)
    features = RecordingFeatures({"pool": torch.randn(images * views, 2048, generator=generator)})
    labels = torch.arange(images * views) // views % 2
    schedule = ViewSchedule(views, images)
    config = TrainConfig(batch, epochs, "cross_entropy", "top1", seed=seed)
    train, held_out = torch.arange(val, images), torch.arange(val)
    train_grid(
        [build_head("linear", 2, seed=0)],
        [GridPoint("adam", 1e-3)],
        features,
        labels,
        train,
        schedule.fixed(held_out),
        config,
        epoch_rows=schedule.rows,
    )
    return [rows for rows in features.served if len(rows) != val or not torch.equal(rows, schedule.fixed(held_out))]


def test_training_reads_one_view_per_image_per_epoch_in_n_over_batch_steps() -> None:
    batches = _train_rows(seed=0, epochs=3, images=22, views=4, batch=8, val=2)
    assert [len(rows) for rows in batches] == [8, 8, 4] * 3, "20 training images: 3 steps an epoch, not 10"
    epochs = [torch.cat(batches[k : k + 3]) for k in range(0, 9, 3)]
    for rows in epochs:
        assert sorted((rows // 4).tolist()) == list(range(2, 22)), "every training image exactly once"
    assert len({tuple(sorted(rows.tolist())) for rows in epochs}) == 3, "each epoch its own views"
    assert all(torch.equal(a, b) for a, b in zip(batches, _train_rows(0, 3, 22, 4, 8, 2)))
    assert any(not torch.equal(a, b) for a, b in zip(batches, _train_rows(1, 3, 22, 4, 8, 2)))


CAL = Calibration("cpu", encoder_images_per_s=1000.0, head_samples_per_s={"deeplabv3plus": 500.0}, read_mb_per_s=1e4)


def test_the_planner_caches_fewer_crop_views_as_the_budget_shrinks() -> None:
    task = get_task("cityscapes_seg")
    size, samples = (513, 513), 2975
    one = stored_bytes(task, size, samples)
    assert cached_views(task, samples, size, 100, None) == VIEW_CAP
    assert cached_views(get_task("egohands_seg"), samples, size, 5, None) == 5, "never more views than epochs"
    chosen = [cached_views(task, samples, size, 100, budget) for budget in (40 * one, 12 * one, 5.5 * one, one, 0)]
    assert chosen == [8, 8, 5, 1, 1]
    plan = estimate(task, samples, 5, size, 100, CAL, int(5.5 * one), augment=True)
    assert plan.choice == "cache" and plan.rows == 5 * samples and plan.stored_bytes <= 5.5 * one
    fresh = estimate(task, samples, 1, size, 100, None, one, augment=True)
    assert fresh.choice == "loop" and "fresh crops" in fresh.reason, "under two views: fresh crops in the loop"
    slow = Calibration("cpu", 1.0, {"deeplabv3plus": 500.0}, 1e4)
    kept = estimate(task, samples, 1, size, 100, slow, one, augment=True)
    assert kept.choice == "cache" and "slower" in kept.reason, "a slow encoder keeps one cached crop"
    forced = estimate(task, samples, 1, size, 100, None, one)
    assert forced.choice == "cache", "--views 1 is the user's choice, not the planner's"


def test_views_option_forces_k_and_crop_tasks_default_to_several(tmp_path: Path) -> None:
    options = ScoreOptions(data_root=tmp_path, cache_root=tmp_path, results_dir=tmp_path)
    cityscapes, nyu = get_task("cityscapes_seg"), get_task("nyu_depth")
    assert planned_views(cityscapes, 100, (513, 513), options) == VIEW_CAP
    assert planned_views(nyu, 100, (224, 224), options) == 1, "resized tasks keep their own views"
    forced = ScoreOptions(data_root=tmp_path, cache_root=tmp_path, results_dir=tmp_path, views=3)
    assert planned_views(cityscapes, 100, (513, 513), forced) == 3 and planned_views(nyu, 100, (224, 224), forced) == 3


def _colour_classes(base: CityscapesSegmentation) -> dict[tuple[int, ...], int]:
    """Band colour -> class, read off the unaugmented images (the fixture's target is a function
    of the pixel)."""
    table = {}
    for sample in range(len(base)):
        image, target = base.image(sample), base.target(sample)
        for colour, label in zip(map(tuple, image.reshape(-1, 3)), target.reshape(-1)):
            assert table.setdefault(colour, int(label)) == int(label)
    return table


def _aligned(image: np.ndarray, target: np.ndarray, table: dict[tuple[int, ...], int]) -> float:
    """Share of the view's pure band pixels whose target is that band's class; also checks that
    most pixels are pure (resampling blurs only band edges)."""
    pure = [(colour, label) for colour, label in zip(map(tuple, image.reshape(-1, 3)), target.reshape(-1))]
    pure = [(colour, label) for colour, label in pure if colour in table]
    assert len(pure) > 0.6 * target.size
    return float(np.mean([table[colour] == label for colour, label in pure]))


def test_rescaled_mirrored_crops_keep_image_and_target_aligned(tmp_path: Path) -> None:
    base = CityscapesSegmentation(write_cityscapes(tmp_path, per_city=3, height=32, width=64), "train")
    table = _colour_classes(base)
    task = get_task("cityscapes_seg")
    assert task.crop_scale == (0.5, 2.0) and task.crop_flip
    views = training_reader(task, base, (16, 16), 8)
    assert views.views == CropViews(16, 8, 0, (0.5, 2.0), True)
    draws = [views._draw(base.target(s).shape, s, k) for s in range(len(base)) for k in range(8)]
    assert {draw.flip for draw in draws} == {False, True} and len({round(d.scale, 3) for d in draws}) > 20
    assert min(d.scale for d in draws) >= 0.5 and max(d.scale for d in draws) <= 2.0
    mirrored_target_fails = 0
    for row in range(len(views)):
        image, target = views.image(row), views.target(row)
        assert image.shape == (16, 16, 3) and target.shape == (16, 16)
        assert _aligned(image, target, table) == 1.0
        mirrored_target_fails += _aligned(image, target[:, ::-1], table) < 1.0
    assert mirrored_target_fails > len(views) // 2, "a target mirrored apart from its image is caught"
    plain = crop_views(base, CropViews(16, 8, 0))
    assert plain.manifest_digest != views.manifest_digest and views.image_ids()[0].endswith("#crop16-scale0.5-2-flip-0")


def test_mirrored_flow_changes_the_sign_of_u_and_rescaled_flow_its_length() -> None:
    flow = np.zeros((10, 20, 3), np.float32)
    flow[..., 0], flow[..., 1], flow[..., 2] = 3.0, -2.0, 1.0
    view = CropViews(size=8).apply(flow, CropDraw(2.0, True, (4, 6)), 0.0, "flow")
    assert view.shape == (8, 8, 3)
    np.testing.assert_array_equal(view[..., 0], -6.0)
    np.testing.assert_array_equal(view[..., 1], -4.0)
    np.testing.assert_array_equal(view[..., 2], 1.0)
    small = CropViews(size=8).apply(
        np.arange(12.0, dtype=np.float32).reshape(2, 6), CropDraw(1.0, True, (0, 0)), -1, "depth"
    )
    assert (small[2:] == -1).all() and (small[:2, 6:] == -1).all(), "mirrored crops are padded bottom/right"
    np.testing.assert_array_equal(small[:2, :6], [[5, 4, 3, 2, 1, 0], [11, 10, 9, 8, 7, 6]])


@pytest.mark.parametrize("scale", [0.5, 1.5])
def test_a_rescaled_window_equals_that_window_of_the_whole_image_rescaled(scale: float) -> None:
    """Only the window is resampled, for speed (a 2048 image at scale 2 is never built)."""
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    draw = CropDraw(scale, True, (1, 2))
    height, width = int(20 * scale), int(30 * scale)
    whole = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))[:, ::-1]
    window = CropViews(size=8).apply(image, draw, (0, 0, 0), "image")
    difference = np.abs(window.astype(int) - whole[1:9, 2:10].astype(int))
    assert difference.max() <= 1 and (difference == 0).mean() > 0.95, "equal up to PIL's fixed-point rounding"
