"""The 20 end tasks of PROTOCOL.md section 2 as data, so the leaderboard knows the full categories
(and their order) without importing tasks/; a result file still carries its own category and metric."""
from __future__ import annotations

CATEGORIES: tuple[str, ...] = ("semantic-image", "structural-image", "semantic-pixel", "structural-pixel")

# task id -> (category, metric); order is the protocol's table order and the leaderboard's column order.
TASKS: dict[str, tuple[str, str]] = {
    "imagenet": ("semantic-image", "top1"),
    "imagenet_v2": ("semantic-image", "top1"),
    "pets": ("semantic-image", "top1"),
    "caltech101": ("semantic-image", "top1"),
    "cifar100": ("semantic-image", "top1"),
    "sun397": ("semantic-image", "top1"),
    "eurosat": ("semantic-image", "top1"),
    "dtd": ("semantic-image", "top1"),
    "kinetics": ("semantic-image", "top1"),
    "clevr_count": ("structural-image", "top1"),
    "thor_num_steps": ("structural-image", "top1"),
    "thor_egomotion": ("structural-image", "top1"),
    "nuscenes_egomotion": ("structural-image", "top1"),
    "cityscapes_seg": ("semantic-pixel", "miou"),
    "pets_seg": ("semantic-pixel", "miou"),
    "egohands_seg": ("semantic-pixel", "miou"),
    "thor_depth": ("structural-pixel", "neg_l1"),
    "taskonomy_depth": ("structural-pixel", "neg_l1"),
    "nyu_depth": ("structural-pixel", "neg_l1"),
    "nyu_walkable": ("structural-pixel", "miou"),
    "kitti_flow": ("structural-pixel", "kitti_fl"),
}

IMAGENET = "imagenet"


def task_order(tasks: list[str]) -> list[str]:
    """Protocol order first, then tasks unknown to this table alphabetically (newer harness versions)."""
    known = [t for t in TASKS if t in tasks]
    return known + sorted(set(tasks) - set(TASKS))


def protocol_tasks(category: str) -> list[str]:
    return [t for t, (c, _) in TASKS.items() if c == category]
