"""The dense path's parts: crop views, stored targets, streamed features, the planner's estimate,
and a head trained from the cache matching one trained with the encoder in the loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from encoders import load_encoder
from harness.cache import FeatureStore
from harness.cache_key import CacheKey
from harness.calibration import Calibration
from harness.cli import main
from harness.costs import estimate
from harness.errors import CacheError, CorruptChunk
from harness.evaluate import score_task
from harness.heads import build_head
from harness.options import ScoreOptions
from harness.results import head_path, load_head
from harness.sources import InMemoryFeatures, StreamedFeatures
from harness.targets import dense_targets
from tasks import get_task
from tasks.readers import CityscapesSegmentation, KittiFlow2015, NyuDepth
from tasks.views import CropDraw, CropViews, JitteredViews, JitterViews, crop_views, resize_target
from tests.writers.cityscapes import write_cityscapes
from tests.writers.kitti_flow import write_kitti_flow
from tests.writers.nyu import write_nyu


def test_crop_boxes_are_seeded_inside_the_image_and_padding_is_never_scored() -> None:
    views = CropViews(size=8, count=3, seed=0)
    boxes = {views.draw((20, 30), sample=4, k=k).box for k in range(3)}
    assert boxes == {views.draw((20, 30), sample=4, k=k).box for k in range(3)} and len(boxes) > 1
    assert all(0 <= top <= 12 and 0 <= left <= 22 for top, left in boxes)
    assert views.draw((5, 30), sample=0, k=0).box[0] == 0
    crop = views.apply(np.ones((5, 30), np.float32), CropDraw(1.0, False, (0, 3)), np.nan, "depth")
    assert crop.shape == (8, 8) and np.isnan(crop[5:]).all() and (crop[:5] == 1).all()


def test_crop_views_cut_image_and_target_alike(tmp_path: Path) -> None:
    base = NyuDepth(write_nyu(tmp_path, height=24, width=32), "train")
    views = crop_views(base, CropViews(size=16, count=2, seed=0))
    assert len(views) == 2 * len(base) and views.image(3).shape == (16, 16, 3) and views.target(3).shape == (16, 16)
    image, depth = base.image(1), base.target(1)
    top, left = views.views.draw(depth.shape, 1, 1).box
    assert np.array_equal(views.image(3), image[top : top + 16, left : left + 16])
    np.testing.assert_array_equal(views.target(3), depth[top : top + 16, left : left + 16])
    other = crop_views(base, CropViews(size=16, count=2, seed=1))
    assert views.manifest_digest != other.manifest_digest != base.manifest_digest
    assert views.image_ids()[3].endswith("#crop16-1")


def test_frame_crops_share_the_sample_box_so_the_known_shift_survives(tmp_path: Path) -> None:
    base = KittiFlow2015(write_kitti_flow(tmp_path, pairs=10, height=24, width=40), "train")
    views = crop_views(base, CropViews(size=16, count=2, seed=0))
    samples = views.samples()
    assert samples.shape == (2 * len(base.samples()), 2)
    first, second = samples[5]
    flow = views.target(5)
    du, dv = int(flow[0, 0, 0]), int(flow[0, 0, 1])
    assert flow[..., 2].any()
    frame0, frame1 = views.image(int(first)).astype(int), views.image(int(second)).astype(int)
    # the moved frame holds frame 0's pixel (y, x) at (y + dv, x + du), inside the crop
    y, x = 4, 4
    assert np.array_equal(frame1[y + dv, x + du], frame0[y, x])


def test_resize_target_keeps_classes_and_scales_flow() -> None:
    classes = np.array([[0, 1], [255, 2]], np.int64)
    assert set(np.unique(resize_target(classes, "classes", (4, 4)))) == {0, 1, 2, 255}
    flow = np.zeros((2, 4, 3), np.float32)
    flow[..., 0], flow[..., 1], flow[..., 2] = 2.0, -1.0, 1.0
    scaled = resize_target(flow, "flow", (4, 8))
    assert scaled.shape == (4, 8, 3) and np.allclose(scaled[..., 0], 4.0) and np.allclose(scaled[..., 1], -2.0)


def test_dense_targets_are_built_once_and_never_left_half_written(tmp_path: Path) -> None:
    reader = NyuDepth(write_nyu(tmp_path / "data", height=24, width=32), "train")
    targets = dense_targets(tmp_path / "cache", "nyu_depth", 1, reader, (24, 32))
    np.testing.assert_allclose(targets.batch(torch.tensor([2, 0]))[0].numpy(), reader.target(2), rtol=1e-3)
    files = list((tmp_path / "cache" / "targets").rglob("*.npy"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    dense_targets(tmp_path / "cache", "nyu_depth", 1, reader, (24, 32))
    assert files[0].stat().st_mtime_ns == mtime

    class Broken:
        TARGET, manifest_digest = "depth", "broken"

        def __len__(self) -> int:
            return 3

        def target(self, index: int) -> np.ndarray:
            if index == 2:
                raise OSError(28, "No space left on device")
            return np.ones((4, 4), np.float32)

    with pytest.raises(CacheError, match="disk full"):
        dense_targets(tmp_path / "cache", "x", 1, Broken(), (4, 4))
    assert sorted(p.name for p in (tmp_path / "cache" / "targets").rglob("*")) == sorted(
        p.name for p in (tmp_path / "cache" / "targets").rglob("*") if "partial" not in p.name
    )
    assert len(list((tmp_path / "cache" / "targets").rglob("*.npy"))) == 1


def _store(root: Path, block: str, values: np.ndarray) -> FeatureStore:
    store = FeatureStore.open_for_write(root, CacheKey.build("e", "m", len(values), {}, block), values.shape[1:], "x")
    for unit in store.pending_units():
        rows = store.unit_rows(unit)
        store.write_unit(unit, values[rows.start : rows.stop])
    store.mark_complete()
    return store


def test_streamed_batches_equal_in_memory_ones_for_images_and_frame_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    blocks = {
        "layer3": rng.standard_normal((10, 4, 3, 3)).astype(np.float16),
        "layer4": rng.standard_normal((10, 8, 2, 2)).astype(np.float16),
    }
    stores = {name: _store(tmp_path, name, values) for name, values in blocks.items()}
    samples = torch.tensor([[0, 1], [2, 3], [4, 5], [1, 0]])
    for frames in (None, samples):
        streamed = StreamedFeatures(stores, samples=frames, workers=2, depth=2)
        memory = InMemoryFeatures({k: torch.from_numpy(v) for k, v in blocks.items()}, samples=frames)
        batches = [torch.tensor([3, 0]), torch.tensor([1]), torch.tensor([2, 2, 0])]
        for got, rows in zip(streamed.batches(batches), batches, strict=True):
            want = memory.batch(rows)
            for name in blocks:
                assert torch.equal(got[name], want[name])
    assert streamed.bytes_read > 0


CAL = Calibration("cpu", encoder_images_per_s=10.0, head_samples_per_s={"unet": 5.0}, read_mb_per_s=1000.0)


def test_planner_weighs_reading_against_recomputing_and_respects_the_budget() -> None:
    task = get_task("nyu_depth")
    fast_disk = estimate(task, 1000, 1, (224, 224), 10, CAL, None)
    assert fast_disk.choice == "cache" and fast_disk.raw_bytes == 1000 * 4_616_192
    assert fast_disk.cache_epoch_s == pytest.approx(200.0) and fast_disk.loop_epoch_s == pytest.approx(300.0)
    slow_disk = estimate(task, 1000, 1, (224, 224), 10, Calibration("cpu", 1000.0, {"unet": 500.0}, 10.0), None)
    assert slow_disk.choice == "loop" and slow_disk.cache_epoch_s > slow_disk.loop_epoch_s
    assert estimate(task, 1000, 1, (224, 224), 10, CAL, budget=10**6).choice == "loop"
    held = estimate(
        task, 1000, 1, (224, 224), 10, Calibration("cpu", 1000.0, {"unet": 500.0}, 10.0), None, memory=10**10
    )
    assert held.choice == "cache" and held.cache_epoch_s == pytest.approx(2.0) and "in memory" in held.reason
    uncalibrated = estimate(task, 1000, 1, (224, 224), 10, None, None)
    assert uncalibrated.choice == "cache" and "calibrate" in uncalibrated.reason
    older = estimate(get_task("kitti_flow"), 180, 1, (513, 513), 10, CAL, None)
    assert older.choice == "cache" and "head siamese_unet not calibrated" in older.reason, (
        "a head the saved calibration never measured is planned, not a KeyError"
    )


@pytest.mark.e2e
def test_head_from_the_cache_matches_the_encoder_in_the_loop(tmp_path: Path) -> None:
    """Same seed, same batches: streamed float16 features vs the encoder run on decoded inputs
    (images already at the input size, so the stored uint8 inputs are exact and only the cache's
    float16 rounding separates the runs). Adam turns the tiniest gradient differences into
    full-size steps on some weights, so the updates are compared by direction (a random direction
    in 100M dimensions has cosine about 0) and the scores by value."""
    data = tmp_path / "data"
    write_nyu(data, height=32, width=32)
    trunk, encoder = load_encoder("random:0")
    states, scores, curves = {}, {}, {}
    for mode in ("cache", "loop"):
        options = ScoreOptions(
            data_root=data,
            cache_root=tmp_path / "cache",
            results_dir=tmp_path / mode,
            image_size=32,
            epochs=2,
            quiet=True,
            mode=mode,
            memory_budget=0,
            save_heads=True,
        )
        result, _ = score_task(trunk, encoder, get_task("nyu_depth"), options)
        assert result["hparams"]["mode"] == mode
        assert result["hparams"]["features"] == ({"train": "stream", "test": "stream"} if mode == "cache" else {})
        scores[mode] = result["score"]
        curves[mode] = result["seeds"][0]["val_curve"]
        states[mode] = load_head(
            head_path(tmp_path / mode, encoder.fingerprint, "nyu_depth", options.protocol_tag(), 0)
        )
    assert scores["cache"] == pytest.approx(scores["loop"], rel=2e-3)
    assert curves["cache"] == pytest.approx(curves["loop"], rel=1e-2)
    init = {f"head.{name}": value for name, value in build_head("unet", 1, seed=0).state_dict().items()}
    assert torch.equal(states["cache"]["mean"], states["loop"]["mean"]), "both modes scale by the same targets"
    steps = {
        mode: torch.cat([(state[name] - init[name]).flatten() for name in init]).double()
        for mode, state in states.items()
    }
    similarity = torch.nn.functional.cosine_similarity(steps["cache"], steps["loop"], dim=0)
    print(f"cosine of the two runs' weight updates: {similarity:.5f}")
    assert similarity > 0.98 and steps["cache"].norm() > 0


def test_plan_command_prints_bytes_and_the_choice(tmp_path: Path, capsys) -> None:
    write_nyu(tmp_path / "data", height=24, width=32)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "calibration.json").write_text(
        json.dumps(
            {
                "cpu": {
                    "device": "cpu",
                    "encoder_images_per_s": 10.0,
                    "head_samples_per_s": {"unet": 5.0, "deeplabv3plus": 8.0},
                    "read_mb_per_s": 1000.0,
                }
            }
        )
    )
    code = main(
        [
            "plan",
            "--data-root",
            str(tmp_path / "data"),
            "--cache",
            str(cache),
            "--device",
            "cpu",
            "--encoder",
            "random:0",
            "--tasks",
            "nyu_depth,nyu_walkable,kitti_flow",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "nyu_depth" in out and "nyu_walkable" in out and "cache (faster by the estimate, maps held in memory)" in out
    assert "not planned: kitti_flow" in out


def test_class_crops_are_redrawn_until_they_hold_two_classes(tmp_path: Path) -> None:
    base = CityscapesSegmentation(write_cityscapes(tmp_path, per_city=2, height=16, width=64), "train")
    views = crop_views(base, CropViews(size=16, count=4, seed=0))
    for index in range(len(views)):
        target = views.target(index)
        assert len(set(np.unique(target)) - {255}) >= 2 or len(set(np.unique(base.target(index // 4))) - {255}) < 2


def test_jittered_views_keep_view_zero_clean_and_the_target(tmp_path: Path) -> None:
    base = NyuDepth(write_nyu(tmp_path, height=24, width=32), "train")
    views = JitteredViews(base, JitterViews(count=3, seed=0))
    assert len(views) == 3 * len(base) and views.image_ids()[4].endswith("#jitter-1")
    assert np.array_equal(views.image(3), base.image(1))
    jittered = views.image(4)
    assert jittered.dtype == np.uint8 and jittered.shape == base.image(1).shape
    assert not np.array_equal(jittered, base.image(1)) and np.array_equal(jittered, views.image(4))
    np.testing.assert_array_equal(views.target(5), base.target(1))


def test_extract_command_caches_the_crop_views_a_crop_task_trains_on(tmp_path: Path, capsys) -> None:
    write_kitti_flow(tmp_path / "data", pairs=10, height=24, width=40)
    code = main(
        [
            "extract",
            "--data-root",
            str(tmp_path / "data"),
            "--cache",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
            "--workers",
            "0",
            "--encoder",
            "random:0",
            "--task",
            "kitti_flow",
            "--image-size",
            "32",
            "--views",
            "2",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and out.count("extracted") == 5 and "KITTI/train" in out and "KITTI/test" not in out
    stores = [FeatureStore.open_path(path) for path in (tmp_path / "cache" / "features").glob("*/*.zarr")]
    assert len(stores) == 5 and {store.key.n_images for store in stores} == {9 * 2 * 2}
    assert {store.features.shape[-1] for store in stores} == {16, 8, 4, 2, 1}


def test_a_missing_chunk_while_streaming_is_damage_not_zeros(tmp_path: Path) -> None:
    values = np.random.default_rng(0).standard_normal((4, 4, 3, 3)).astype(np.float16)
    store = _store(tmp_path, "layer3", values)
    store.shard_file(0).unlink()  # four rows: the store has one unit, in one shard
    with pytest.raises(CorruptChunk, match=f"{store.path}: rows 0-3: shard file missing") as caught:
        StreamedFeatures({"layer3": store}).batch(torch.tensor([1, 2]))
    assert caught.value.units == (0,)


def test_a_damaged_chunk_while_streaming_is_one_line_naming_the_store(tmp_path: Path) -> None:
    values = np.random.default_rng(0).standard_normal((4, 4, 3, 3)).astype(np.float16)
    store = _store(tmp_path, "layer3", values)
    store.shard_file(0).write_bytes(b"not a shard")
    with pytest.raises(CorruptChunk, match=str(store.path)):
        StreamedFeatures({"layer3": store}).batch(torch.tensor([2]))
