"""The split-level metrics: hand-worked cases, and agreement with scikit-learn or plain numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, jaccard_score

from harness.metrics import (
    METRICS,
    ForegroundMeanIoU,
    KittiFlowInlier,
    MeanIoU,
    NegativeL1,
    PositiveIoU,
    Top1,
    WithSecondary,
    build_metric,
)

NAN, INF = float("nan"), float("inf")


def labels(rows: list[list[int]]) -> torch.Tensor:
    """A (1, H, W) int64 label map."""
    return torch.tensor([rows], dtype=torch.int64)


# ---- registry ---------------------------------------------------------------------------------


def test_every_metric_is_higher_is_better_and_named_as_registered() -> None:
    for name in METRICS:
        metric = build_metric(name, num_classes=3, positive=(1,))
        assert metric.higher_is_better is True and metric.name == name


def test_build_metric_keeps_old_callers_and_asks_for_classes_where_needed() -> None:
    assert isinstance(build_metric("top1"), Top1)
    assert isinstance(build_metric("neg_l1"), NegativeL1)
    assert isinstance(build_metric("kitti_fl"), KittiFlowInlier)
    assert build_metric("miou", num_classes=5).num_classes == 5
    with pytest.raises(ValueError, match="num_classes"):
        build_metric("miou")
    with pytest.raises(ValueError, match="unknown metric"):
        build_metric("iou")


def test_top1_unchanged() -> None:
    metric = build_metric("top1")
    metric.update(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), torch.tensor([0, 0, 0]))
    assert metric.compute() == pytest.approx(2 / 3)


# ---- mIoU -------------------------------------------------------------------------------------


def test_miou_hand_case_ignores_label_and_excludes_absent_class() -> None:
    # target 0 0 1 1 255 / prediction 0 1 1 1 2, 3 classes. The 255 pixel is dropped, so class 2
    # (only predicted there) is absent from both and excluded. Confusion (true, pred):
    # (0,0)=1 (0,1)=1 (1,1)=2 -> IoU0 = 1/(1+1) = 1/2, IoU1 = 2/(2+1) = 2/3, mean = 7/12.
    # (Scoring the absent class as 1, as the original did, would give 13/18.)
    metric = MeanIoU(num_classes=3)
    metric.update(labels([[0, 1, 1, 1, 2]]), labels([[0, 0, 1, 1, 255]]))
    assert metric.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    per_class = metric.per_class()
    assert per_class[:2].tolist() == pytest.approx([1 / 2, 2 / 3]) and math.isnan(per_class[2])
    assert metric.compute() == pytest.approx(7 / 12)


def test_miou_class_only_predicted_counts_as_zero() -> None:
    # target 0 0 / prediction 0 1: class 1 is predicted but never true, so IoU1 = 0/(0+1+0) = 0,
    # IoU0 = 1/(1+0+1) = 1/2, mean = 1/4.
    metric = MeanIoU(num_classes=2)
    metric.update(labels([[0, 1]]), labels([[0, 0]]))
    assert metric.compute() == pytest.approx(1 / 4)


def test_miou_is_one_matrix_over_the_split_not_a_mean_of_batches() -> None:
    # batch 1: target 0 0 0 1 / pred 0 0 0 0 ; batch 2: target 1 1 / pred 1 1.
    # Whole split: (0,0)=3 (1,0)=1 (1,1)=2 -> IoU0 = 3/4, IoU1 = 2/3, mean = 17/24.
    # Per batch: batch 1 -> (3/4 + 0)/2 = 3/8, batch 2 -> 1 (class 0 absent); their mean is 11/16.
    metric = MeanIoU(num_classes=2)
    metric.update(labels([[0, 0, 0, 0]]), labels([[0, 0, 0, 1]]))
    metric.update(labels([[1, 1]]), labels([[1, 1]]))
    assert metric.compute() == pytest.approx(17 / 24)
    assert metric.compute() != pytest.approx(11 / 16)


def test_miou_logits_take_the_argmax_and_binary_task_works() -> None:
    # Two channels (NYU walkable): pixel classes from argmax are 1 0 1; target 1 0 0.
    # (0,0)=1 (0,1)=1 (1,1)=1 -> IoU0 = 1/2, IoU1 = 1/2, mean = 1/2.
    logits = torch.tensor([[[[0.1, 2.0, -1.0]], [[0.5, 1.0, 3.0]]]])  # (1, 2, 1, 3)
    metric = MeanIoU(num_classes=2)
    metric.update(logits, labels([[1, 0, 0]]))
    assert metric.compute() == pytest.approx(1 / 2)


def test_miou_equals_sklearn_over_uneven_batches() -> None:
    generator = torch.Generator().manual_seed(0)
    classes, ignore = 6, 255
    metric = MeanIoU(num_classes=classes, ignore_index=ignore)
    all_true, all_pred = [], []
    for batch, height, width in [(3, 5, 7), (1, 9, 4), (2, 6, 6), (5, 3, 2)]:
        logits = torch.randn(batch, classes, height, width, generator=generator)
        target = torch.randint(0, classes, (batch, height, width), generator=generator)
        target[torch.rand(batch, height, width, generator=generator) < 0.2] = ignore
        metric.update(logits, target)
        keep = target != ignore
        all_true.append(target[keep].numpy())
        all_pred.append(logits.argmax(dim=1)[keep].numpy())
    true, pred = np.concatenate(all_true), np.concatenate(all_pred)
    expected_matrix = confusion_matrix(true, pred, labels=list(range(classes)))
    assert np.array_equal(metric.confusion.numpy(), expected_matrix)
    expected = jaccard_score(true, pred, labels=list(range(classes)), average=None)
    np.testing.assert_allclose(metric.per_class().numpy(), expected)
    assert metric.compute() == pytest.approx(expected.mean())


def test_miou_absent_classes_match_sklearn_on_present_ones() -> None:
    # Classes 3 and 4 of 5 never occur in target or prediction: the mean is over 0, 1, 2 only.
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 3, (4, 8, 8), generator=generator)
    pred = torch.randint(0, 3, (4, 8, 8), generator=generator)
    metric = MeanIoU(num_classes=5)
    metric.update(pred, target)
    expected = jaccard_score(target.flatten().numpy(), pred.flatten().numpy(), labels=[0, 1, 2], average=None)
    assert metric.compute() == pytest.approx(expected.mean())
    assert torch.isnan(metric.per_class()[3:]).all()


def test_miou_refuses_bad_labels_shapes_and_empty_split() -> None:
    metric = MeanIoU(num_classes=3)
    with pytest.raises(ValueError, match="target label"):
        metric.update(labels([[0, 3]]), labels([[0, 3]]))
    with pytest.raises(ValueError, match="output channels"):
        metric.update(torch.zeros(1, 2, 1, 2), labels([[0, 1]]))
    with pytest.raises(ValueError, match="shape"):
        metric.update(labels([[0, 1, 2]]), labels([[0, 1]]))
    metric.update(labels([[0, 1]]), labels([[255, 255]]))
    with pytest.raises(ValueError, match="no scored pixel"):
        metric.compute()
    with pytest.raises(ValueError, match="ignore_index"):
        MeanIoU(num_classes=3, ignore_index=2)


# ---- the original code's definitions (virb protocol) and secondary metrics ----------------------


def test_miou_fg_skips_background_from_one_matrix() -> None:
    # target 0 0 1 2 2 / prediction 0 1 1 2 0, 3 classes (EgoHands: 0 = background).
    # (0,0)=1 (0,1)=1 (1,1)=1 (2,2)=1 (2,0)=1: IoU0 = 1/3, IoU1 = 1/2, IoU2 = 1/2.
    # all classes: (1/3 + 1/2 + 1/2) / 3 = 4/9; hands only: (1/2 + 1/2) / 2 = 1/2.
    target = torch.tensor([[0, 0, 1, 2, 2]])
    predicted = torch.tensor([[0, 1, 1, 2, 0]])
    both = build_metric("miou_fg", num_classes=3, secondary=("miou",))
    both.update(predicted, target)
    assert isinstance(both, WithSecondary) and isinstance(both.primary, ForegroundMeanIoU)
    assert both.compute() == pytest.approx(1 / 2)
    assert both.secondary()["miou"]["value"] == pytest.approx(4 / 9)
    assert both.secondary()["miou"]["direction"] == "higher" and "every class" in both.secondary()["miou"]["definition"]
    assert both.interval() is None  # the primary's: one test image gives no bootstrap


def test_positive_iou_per_image_with_smoothing_pets_border_positive() -> None:
    # Pets labels: 0 background, 1 pet, 255 border; the original's positive class is {0, 255}.
    # image a: target 0 1 255 1 -> positive T F T F; logits +1 -1 -1 +1 -> predicted T F F T:
    #   intersection 1, union 3 -> 1/3.
    # image b: target 1 1 1 1 (no positive) and every logit negative -> 0 / 0 -> 1 by the smoothing.
    # mean over the images: (1/3 + 1) / 2 = 2/3.
    target = torch.tensor([[[0, 1, 255, 1]], [[1, 1, 1, 1]]])
    logits = torch.tensor([[[[1.0, -1.0, -1.0, 1.0]]], [[[-1.0, -1.0, -1.0, -1.0]]]])
    metric = PositiveIoU((0, 255))
    metric.update(logits, target)
    assert metric.compute() == pytest.approx(2 / 3)


def test_positive_iou_of_a_two_class_head_and_miou_of_a_one_output_head() -> None:
    # NYU walkable, positive label 1. Two-class logits whose arg-max is 1 0 1 0 against 1 1 0 0:
    # intersection 1, union 3 -> 1/3 (one image).
    target = torch.tensor([[[1, 1, 0, 0]]])
    two = torch.tensor([[[[0.0, 1.0, 0.0, 1.0]], [[1.0, 0.0, 1.0, 0.0]]]])
    metric = build_metric("positive_iou", num_classes=2, positive=(1,))
    metric.update(two, target)
    assert metric.compute() == pytest.approx(1 / 3)
    # A one-output (BCE) head predicting 1 0 1 0 (logit > 0) scored as two classes: (0,0)=1 (0,1)=1
    # (1,0)=1 (1,1)=1 -> IoU0 = IoU1 = 1/3, mean 1/3; its primary positive IoU is the same 1/3 here.
    one = torch.tensor([[[[2.0, -2.0, 0.5, -0.5]]]])
    both = build_metric("positive_iou", num_classes=1, positive=(1,), secondary=("miou",))
    both.update(one, target)
    assert both.compute() == pytest.approx(1 / 3)
    assert both.secondary()["miou"]["value"] == pytest.approx(1 / 3)
    # Pets' one-output head: positive {0, 255} maps logit > 0 to class 0 (background), border ignored.
    # target 0 1 255 / logits + - + -> classes 0 1 (ignored): IoU0 = IoU1 = 1 -> 1.
    pets = build_metric("miou", num_classes=1, positive=(0, 255))
    pets.update(torch.tensor([[[[1.0, -1.0, 1.0]]]]), torch.tensor([[[0, 1, 255]]]))
    assert isinstance(pets, MeanIoU) and pets.compute() == pytest.approx(1.0)


def test_class_metric_variants_refuse_missing_positive_labels() -> None:
    with pytest.raises(ValueError, match="positive"):
        build_metric("positive_iou", num_classes=2)
    with pytest.raises(ValueError, match="one positive label"):
        build_metric("miou", num_classes=1, positive=(3,))
    with pytest.raises(ValueError, match="unknown metric"):
        build_metric("miou", num_classes=2, secondary=("iou",))


# ---- negative L1 ------------------------------------------------------------------------------


def test_neg_l1_hand_case_skips_invalid_depth() -> None:
    # target   2.0  nan  0.0  1.0 |  inf  -1   3.0  4.0   (valid: all finite ones; 0 and -1 are values)
    # output   2.5  9    9    0.0 |  9    9    3.0  6.0
    # |error| on valid pixels: 0.5, 9.0, 1.0, 10.0, 0.0, 2.0 -> sum 22.5 over 6 -> -3.75.
    target = torch.tensor([[[2.0, NAN, 0.0, 1.0], [INF, -1.0, 3.0, 4.0]]])
    output = torch.tensor([[[2.5, 9.0, 9.0, 0.0], [9.0, 9.0, 3.0, 6.0]]])
    metric = NegativeL1()
    metric.update(output.unsqueeze(1), target)
    assert metric.compute() == pytest.approx(-3.75)
    # An explicit mask removing the last pixel: 20.5 over 5 -> -4.1.
    masked = NegativeL1()
    mask = torch.ones(1, 2, 4, dtype=torch.bool)
    mask[0, 1, 3] = False
    masked.update(output, target, mask=mask)
    assert masked.compute() == pytest.approx(-4.1)


def test_neg_l1_equals_numpy_over_uneven_batches() -> None:
    rng = np.random.default_rng(2)
    metric = NegativeL1()
    errors = []
    for batch, height, width in [(2, 5, 6), (3, 4, 4), (1, 7, 3)]:
        target = rng.uniform(0.5, 10.0, (batch, height, width)).astype(np.float32)
        target[rng.random(target.shape) < 0.15] = np.nan
        target[rng.random(target.shape) < 0.15] = 0.0
        output = rng.uniform(0.0, 10.0, (batch, 1, height, width)).astype(np.float32)
        metric.update(torch.from_numpy(output), torch.from_numpy(target))
        valid = np.isfinite(target)
        errors.append(np.abs(output[:, 0] - target)[valid])
    assert metric.compute() == pytest.approx(-np.concatenate(errors).astype(np.float64).mean())


def test_neg_l1_refuses_no_valid_pixel_and_bad_prediction() -> None:
    metric = NegativeL1()
    metric.update(torch.ones(1, 2, 2), torch.tensor([[[-INF, NAN], [NAN, INF]]]))
    with pytest.raises(ValueError, match="no valid depth"):
        metric.compute()
    with pytest.raises(ValueError, match="non-finite"):
        metric.update(torch.tensor([[[NAN]]]), torch.tensor([[[1.0]]]))
    with pytest.raises(ValueError, match="shape"):
        metric.update(torch.ones(1, 2, 2), torch.ones(1, 2, 3))


# ---- KITTI flow -------------------------------------------------------------------------------


def flow_target(u: list[float], v: list[float], valid: list[float]) -> torch.Tensor:
    """A (1, 3, 1, W) (u, v, valid) target."""
    return torch.tensor([[[u], [v], [valid]]])


def test_kitti_hand_case_relative_threshold_and_invalid_pixels() -> None:
    # pixel a: gt (100, 0), pred (104, 0): EPE 4 > 3 but 4 < 5% of 100 = 5 -> inlier.
    # pixel b: gt (6, 8) |gt| 10, pred (6, 12): EPE 4 > 3 and > 0.5 -> outlier.
    # pixel c: gt (0, 0), pred (2, 2): EPE 2.83 <= 3 -> inlier.
    # pixel d: invalid, pred far off -> ignored.
    # 1 outlier of 3 valid -> 1 - 1/3 = 2/3; mean EPE = (4 + 4 + sqrt 8) / 3.
    target = flow_target([100, 6, 0, 0], [0, 8, 0, 0], [1, 1, 1, 0])
    pred = torch.tensor([[[[104.0, 6, 2, 500]], [[0.0, 12, 2, 500]]]])
    metric = KittiFlowInlier()
    metric.update(pred, target)
    assert metric.statistics()[:, :2].tolist() == [[1, 3]]
    assert metric.compute() == pytest.approx(2 / 3)
    assert metric.epe() == pytest.approx((8 + math.sqrt(8)) / 3)


def test_kitti_sums_pixels_over_images_not_a_mean_of_images() -> None:
    # image 1 (1x1): gt (0, 0), pred (10, 0): outlier. image 2 (1x4): all exact: 4 inliers.
    # Pixel-summed: 1 - 1/5 = 0.8; a mean of per-image rates would give (0 + 1) / 2 = 0.5.
    metric = KittiFlowInlier()
    metric.update(
        torch.tensor([[[[10.0]], [[0.0]]]]),
        {"flow": torch.zeros(1, 2, 1, 1), "valid": torch.ones(1, 1, 1, dtype=torch.bool)},
    )
    metric.update(torch.ones(1, 2, 1, 4), {"flow": torch.ones(1, 2, 1, 4), "valid": torch.ones(1, 1, 4)})
    assert metric.compute() == pytest.approx(0.8)


def numpy_fl_inlier(preds: list[np.ndarray], flows: list[np.ndarray], valids: list[np.ndarray]) -> float:
    """KITTI devkit rule written directly: outlier = EPE > 3 and EPE / |gt| > 0.05, counts pooled."""
    outliers = total = 0
    for pred, flow, valid in zip(preds, flows, valids):
        epe = np.sqrt(((pred - flow) ** 2).sum(axis=1))
        magnitude = np.sqrt((flow**2).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            outlier = (epe > 3.0) & (epe / magnitude > 0.05)
        outliers += int((outlier & valid).sum())
        total += int(valid.sum())
    return 1.0 - outliers / total


def test_kitti_equals_numpy_over_images_of_different_sizes() -> None:
    rng = np.random.default_rng(3)
    tensor_metric, dict_metric = KittiFlowInlier(), KittiFlowInlier()
    preds, flows, valids = [], [], []
    for batch, height, width in [(2, 6, 9), (1, 5, 11), (3, 4, 7)]:
        flow = rng.normal(0.0, 40.0, (batch, 2, height, width))
        pred = flow + rng.normal(0.0, 4.0, flow.shape)
        valid = rng.random((batch, height, width)) < 0.7
        packed = np.concatenate([flow, valid[:, None].astype(np.float64)], axis=1)
        tensor_metric.update(torch.from_numpy(pred), torch.from_numpy(packed))
        dict_metric.update(torch.from_numpy(pred), {"flow": torch.from_numpy(flow), "valid": torch.from_numpy(valid)})
        preds.append(pred), flows.append(flow), valids.append(valid)
    expected = numpy_fl_inlier(preds, flows, valids)
    assert 0.0 < expected < 1.0
    assert tensor_metric.compute() == pytest.approx(expected)
    assert dict_metric.compute() == pytest.approx(expected)
    epe = np.concatenate([np.sqrt(((p - f) ** 2).sum(axis=1))[v] for p, f, v in zip(preds, flows, valids)])
    assert tensor_metric.epe() == pytest.approx(epe.mean())


def test_kitti_refuses_resized_prediction_and_empty_split() -> None:
    metric = KittiFlowInlier()
    with pytest.raises(ValueError, match="shape"):
        metric.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 4, 4))
    metric.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="no valid flow"):
        metric.compute()


def test_dense_metrics_bootstrap_over_test_images_and_bracket_their_score() -> None:
    generator = torch.Generator().manual_seed(0)
    miou, l1, flow = MeanIoU(3), NegativeL1(), KittiFlowInlier()
    for _ in range(4):
        classes = torch.randint(0, 3, (5, 6, 6), generator=generator)
        noisy = torch.where(torch.rand(5, 6, 6, generator=generator) < 0.7, classes, (classes + 1) % 3)
        miou.update(noisy, classes)
        depth = torch.rand(5, 6, 6, generator=generator) + 1.0
        l1.update(depth + torch.rand(5, 6, 6, generator=generator), depth)
        truth = torch.cat([torch.randn(5, 2, 6, 6, generator=generator) * 8, torch.ones(5, 1, 6, 6)], dim=1)
        flow.update(truth[:, :2] + torch.randn(5, 2, 6, 6, generator=generator) * 4, truth)
    for metric in (miou, l1, flow):
        low, high = metric.interval()
        assert low < metric.compute() < high and high - low < 0.5, (metric.name, low, high)
        assert metric.interval() == (low, high)
    assert int(torch.cat(miou.per_sample).sum()) == int(miou.confusion.sum()) == 20 * 36
    single = NegativeL1()
    single.update(torch.ones(1, 2, 2), torch.full((1, 2, 2), 2.0))
    assert single.interval() is None
