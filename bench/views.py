"""What a Cityscapes training view costs to cut, and what the per-epoch view choice costs.

Why: a crop task caches K views per image (or, in the loop, cuts a fresh one per image every
epoch), so producing a view sits on the extraction path K times per image, and in loop mode on
every batch. `CropViews.apply` resamples only the 513 window of the rescaled image; this times
it against rescaling the whole 2048x1024 image and then cropping (what a plain
resize-then-crop would do), on random pixels and a random class map of Cityscapes' size, for
scales across 0.5-2, and times `ViewSchedule.rows` for Cityscapes' 2,975 images x K views.

    python bench/views.py [--draws 20] [--out bench/results/views.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.view_schedule import ViewSchedule
from tasks.views import PAD_RGB, CropViews, resize_target, scaled_shape


def whole_then_crop(views: CropViews, image: np.ndarray, target: np.ndarray, draw) -> None:
    """Rescale the whole image and target, mirror, crop: the reference `apply` avoids."""
    height, width = scaled_shape(image.shape, draw.scale)
    scaled = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))
    labels = resize_target(target, "classes", (height, width))
    top, left = draw.box
    for array in (scaled, labels):
        array = array[:, ::-1] if draw.flip else array
        np.ascontiguousarray(array[top : top + views.size, left : left + views.size])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/views.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
    target = rng.integers(0, 19, (1024, 2048), dtype=np.uint8)
    views = CropViews(513, args.draws, 0, (0.5, 2.0), True)
    draws = [views.draw(target.shape, 0, k) for k in range(args.draws)]
    timings = {}
    for name, cut in (
        ("window", lambda d: (views.apply(image, d, PAD_RGB, "image"), views.apply(target, d, 255, "classes"))),
        ("whole", lambda d: whole_then_crop(views, image, target, d)),
    ):
        started = time.perf_counter()
        for draw in draws:
            cut(draw)
        timings[name] = (time.perf_counter() - started) / len(draws)
    schedule_ms = {}
    for count in (8, 16):
        schedule = ViewSchedule(count, 2975)
        samples = torch.randperm(2975)
        started = time.perf_counter()
        for epoch in range(1, 11):
            schedule.rows(samples, 0, epoch)
        schedule_ms[count] = (time.perf_counter() - started) / 10 * 1e3
    report = {
        "draws": args.draws,
        "scales": [round(d.scale, 3) for d in draws],
        "seconds_per_view": timings,
        "speedup": timings["whole"] / timings["window"],
        "schedule_ms_per_epoch": schedule_ms,
    }
    print(f"view (image + class map), 2048x1024 at scales 0.5-2: window {timings['window'] * 1e3:.1f} ms, ")
    print(f"  whole image rescaled then cropped {timings['whole'] * 1e3:.1f} ms ({report['speedup']:.1f}x)")
    print("per-epoch view choice, 2,975 images: " + ", ".join(f"K={k} {v:.2f} ms" for k, v in schedule_ms.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
