"""The 20 end tasks of docs/PROTOCOL.md section 2 as data, so the leaderboard knows the full categories
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


# docs/PROTOCOL.md section 6 item 5: the image domain of each task and of each pre-training dataset, so
# the leaderboard can tell encoders pre-trained on data like a task's from the others. Tasks name every
# domain their images come from; datasets are keyed by lower-cased pretrain_data as written by the study registry
# (encoders/study.py), copied here as data because the leaderboard does not import encoders/.
TASK_DOMAINS: dict[str, tuple[str, ...]] = {
    "imagenet": ("object",), "imagenet_v2": ("object",), "pets": ("object",), "caltech101": ("object",),
    "cifar100": ("object",), "sun397": ("scene",), "eurosat": ("satellite",), "dtd": ("texture",),
    "kinetics": ("video",), "clevr_count": ("synthetic",), "thor_num_steps": ("indoor",),
    "thor_egomotion": ("indoor",), "nuscenes_egomotion": ("driving",), "cityscapes_seg": ("driving",),
    "pets_seg": ("object",), "egohands_seg": ("egocentric", "video"), "thor_depth": ("indoor",),
    "taskonomy_depth": ("indoor",), "nyu_depth": ("indoor",), "nyu_walkable": ("indoor",),
    "kitti_flow": ("driving",),
}
MIXED = "mixed"  # Combination: several domains at once, neither similar nor dissimilar to any task
PRETRAIN_DOMAINS: dict[str, str] = {
    "imagenet": "object", "imagenet-1/2": "object", "imagenet-1/4": "object", "imagenet-1/2-lin": "object",
    "imagenet-1/4-log": "object", "places": "scene", "places205": "scene", "places365": "scene",
    "kinetics": "video", "taskonomy": "indoor",
    "combination": MIXED,
}


def pretrain_domain(pretrain_data: object) -> str | None:
    """The domain of a pretrain_data name (any case), None when unknown (e.g. 'none' for a random init)."""
    return PRETRAIN_DOMAINS.get(str(pretrain_data or "").strip().lower())
