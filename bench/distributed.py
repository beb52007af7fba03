"""The same extraction by 1 rank and by N torchrun ranks (gloo on the CPU, NCCL on GPUs): wall
seconds of `ccbench extract` over a synthetic CIFAR-format set, fresh cache each run, the
processes' start-up included (as a user pays it). Prints a table, writes JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tasks.synthetic import write_cifar100  # noqa: E402


def run(ranks: int, data: Path, cache: Path, args: argparse.Namespace) -> float:
    extract = ["extract", "--encoder", "random:0", "--task", "cifar100", "--data-root", str(data)]
    extract += ["--cache", str(cache), "--image-size", str(args.size), "--workers", "0", "--quiet"]
    extract += ["--device", args.device, "--batch-size", "64"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    command = (
        [*launcher, "-m", "harness.cli", *extract] if ranks > 1 else [sys.executable, "-m", "harness.cli", *extract]
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(args.threads)}
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1024, help="train images (test: a quarter)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per process")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "distributed_cpu.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        write_cifar100(data, n_train=args.images, n_test=args.images // 4, seed=0)
        images = args.images + args.images // 4
        rows = []
        for ranks in args.ranks:
            seconds = run(ranks, data, Path(scratch) / f"cache{ranks}", args)
            rows.append({"ranks": ranks, "seconds": round(seconds, 2), "images_per_s": round(images / seconds, 2)})
    base = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = round(base / row["seconds"], 2)
    print(f"{'ranks':>5} {'seconds':>8} {'img/s':>7} {'speedup':>7}")
    for row in rows:
        print(f"{row['ranks']:>5} {row['seconds']:>8} {row['images_per_s']:>7} {row['speedup']:>7}")
    record = {
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "images": images,
        "size": args.size,
        "threads_per_rank": args.threads,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
