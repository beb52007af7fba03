"""What each `ccbench` subcommand does; harness.cli parses the arguments and imports this module only
then, so `ccbench --help` never waits for torch."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import Timeout

from encoders import EncoderSpec, ResNet50Trunk, fingerprint, load_encoder, read_checkpoint, study_encoder
from harness import checked
from harness.cache import FeatureStore, find_stores, list_stores, remove_tree, store_lock, store_usage
from harness.calibration import calibrate, save_calibration
from harness.compute import resolve_compute
from harness.dense import dense_cached_readers, plan_task
from harness.distributed import SOLO, from_env, gather, join, units_of_work
from harness.errors import USER_ERRORS, CacheError
from harness.evaluate import extract_shared, score_task, score_together
from harness.loader import resolve_decode
from harness.options import ScoreOptions, options_from, resolve_device
from harness.plan import plan, task_readers
from harness.prepare import run_extraction
from leaderboard.collect import read_result
from leaderboard.errors import LeaderboardError
from leaderboard.predictions import read_predictions, rescore
from leaderboard.render import build as build_leaderboard
from tasks import DataError, TaskSpec, battery, get_task
from tasks.synthetic import N_CLASSES, write_cifar100

log = logging.getLogger("ccbench")

METADATA_FIELDS = ("method", "pretrain_data", "pretrain_images", "pretrain_epochs")


def encoder_from(args: argparse.Namespace) -> tuple[ResNet50Trunk, EncoderSpec]:
    """Load `--encoder` (or submit's CHECKPOINT) with its metadata: a study name such as
    "MoCo v2 ImageNet 200" fills method and pre-training data in, and submit's flags override them."""
    source = str(getattr(args, "checkpoint", None) or args.encoder)
    trunk, encoder = load_encoder(source, name=args.name, trust=args.trust_checkpoint, key=args.key, prefix=args.prefix)
    known = study_encoder(encoder.name)
    metadata = {}
    for name in METADATA_FIELDS:
        given = getattr(args, name, None)
        metadata[name] = given if given is not None else getattr(known, name, None)
    return trunk, dataclasses.replace(encoder, **metadata)


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned text table (no dependency for one print)."""
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def cmd_tasks(args: argparse.Namespace) -> int:
    rows = [
        {
            "id": t.id,
            "category": t.category,
            "head": t.head,
            "metric": t.metric,
            "data_folder": t.data_folder,
            "found": bool(args.data_root) and (args.data_root / t.data_folder).is_dir(),
        }
        for t in battery(args.protocol).values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, ["id", "category", "head", "metric", "data_folder", "found"])
        if not args.data_root:
            print("(no data root: set CCBENCH_DATA or pass --data-root to see which datasets are found)")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """The report on stdout; when the file is not loadable, also the one-line reason and fix on stderr."""
    report = read_checkpoint(args.checkpoint, trust=args.trust_checkpoint, key=args.key, prefix=args.prefix)
    info = {
        "format": report.format,
        "key": report.key,
        "prefix": report.prefix,
        "fingerprint": fingerprint(report.state) if report.ok else None,
        "tensors": report.tensors,
        "missing": list(report.missing),
        "unexpected": list(report.unexpected),
        "nonfinite": list(report.nonfinite),
        "candidates": [dataclasses.asdict(candidate) for candidate in report.candidates],
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"file         {args.checkpoint}")
        shown = {**info, "prefix": None if report.prefix is None else shlex.quote(report.prefix)}
        for key in ("format", "key", "prefix", "fingerprint", "tensors"):
            print(f"{key:<12} {shown[key]}")
        for key in ("missing", "unexpected", "nonfinite"):
            print(f"{key:<12} {len(info[key])}" + "".join(f"\n  {name}" for name in info[key]))
        print(
            f"candidates   {len(report.candidates)}"
            + "".join(f"\n  {candidate.flags()} ({candidate.format})" for candidate in report.candidates)
        )
        print("loadable     yes" if report.ok else "loadable     no")
    if report.error is not None:
        print(f"ccbench: {report.error}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    calibration = calibrate(device)
    path = save_calibration(args.cache, calibration)
    print(f"encoder   {calibration.encoder_images_per_s:8.1f} images/s (224 px, all five maps, {device})")
    for head, rate in calibration.head_samples_per_s.items():
        print(f"{head:<13} {rate:8.1f} samples/s (training step at 224 px)")
    print(f"cache read {calibration.read_mb_per_s:7.0f} MB/s")
    print(f"saved: {path}")
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def cmd_plan(args: argparse.Namespace) -> int:
    """Per dense task found: blocks, views, images, bytes and each mode's seconds per epoch."""
    options = options_from(args, epochs=args.epochs)
    tasks = (
        [t for t in battery(args.protocol).values() if t.dense]
        if args.tasks == "all"
        else [get_task(t, args.protocol) for t in args.tasks.split(",")]
    )
    _, encoder = encoder_from(args)
    rows, missing = [], []
    for task in tasks:
        if not task.dense:
            rows.append(
                {
                    "task": task.id,
                    "blocks": ",".join(task.blocks),
                    "views": 1,
                    "images": "-",
                    "raw": "-",
                    "stored": "-",
                    "cache s/epoch": "-",
                    "loop s/epoch": "-",
                    "choice": "cache (pooled vectors held in memory)",
                }
            )
            continue
        try:
            plan = plan_task(encoder, task, options)
        except DataError as error:
            missing.append(f"{task.id}: {error}")
            continue
        rows.append(
            {
                "task": task.id,
                "blocks": ",".join(plan.blocks),
                "views": plan.views,
                "images": plan.rows,
                "raw": f"{plan.raw_bytes / 1e9:.2f} GB",
                "stored": f"{plan.stored_bytes / 1e9:.2f} GB",
                "cache s/epoch": _seconds(plan.cache_epoch_s),
                "loop s/epoch": _seconds(plan.loop_epoch_s),
                "choice": f"{plan.choice} ({plan.reason})",
            }
        )
    if rows:
        print_table(
            rows, ["task", "blocks", "views", "images", "raw", "stored", "cache s/epoch", "loop s/epoch", "choice"]
        )
    for line in missing:
        print(f"not planned: {line}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    """Fill the task's stores; under torchrun the ranks share every store's units."""
    task = get_task(args.task, args.protocol)
    world = join(resolve_device(args.device))
    options = options_from(args, world=world)
    trunk, encoder = encoder_from(args)
    roles = list(task.splits) if args.split == "all" else [args.split]
    found = dense_cached_readers(encoder, task, options) if task.dense else task_readers(task, options.data_root)
    readers = {task.id: {role: r for role, r in found.items() if role in roles}}
    for job in plan(encoder, [task], readers, options.image_size, **options.extraction()).values():
        seconds = run_extraction(trunk, job, options)
        if not world.leader:
            continue
        for block, key in job.keys.items():
            print(
                f"{job.image_set:<32} {block:<7} {key.digest[:16]}  "
                + (f"extracted in {seconds:.1f}s" if seconds else "already cached")
            )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    task = get_task(args.task, args.protocol)
    options = options_from(
        args, epochs=args.epochs, seeds=tuple(args.seed), force=args.force, grid=args.grid, save_heads=args.save_heads
    )
    trunk, encoder = encoder_from(args)
    result, path = score_task(trunk, encoder, task, options)
    print_results([result])
    print(f"result: {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Every requested task whose data is found, one after another; missing data is reported, not fatal."""
    trunk, encoder = encoder_from(args)
    return score_all(trunk, encoder, args)


def cmd_submit(args: argparse.Namespace) -> int:
    """Inspect strictly, score every task whose data is found, then regenerate the leaderboard.

    A name of the study (e.g. "MoCo v2 ImageNet 200") fills in its metadata; flags override it.
    The leaderboard is rebuilt from the results folder, so it ranks every encoder scored there.
    """
    trunk, encoder = encoder_from(args)
    print(
        f"{encoder.name}: {encoder.format} checkpoint, fingerprint {encoder.fingerprint[:16]}, "
        + ", ".join(f"{k}={getattr(encoder, k)}" for k in METADATA_FIELDS if getattr(encoder, k) is not None)
    )
    status = score_all(trunk, encoder, args)
    if status == 0 and from_env().leader:
        try:
            cmd_leaderboard(args)
        except LeaderboardError as error:
            print(f"results written; leaderboard not rebuilt: {error}")
    return status


def score_unit(
    trunk: ResNet50Trunk, encoder: EncoderSpec, unit: list[TaskSpec], options: ScoreOptions, lockstep: bool
) -> tuple[dict[str, dict], dict[str, Exception]]:
    """One unit of work scored by this process: its tasks in lockstep (score_together), or one by
    one; the results by task and the tasks that failed."""
    if lockstep:
        results, failed = score_together(trunk, encoder, unit, options)
        return dict(zip([t.id for t in unit if t.id not in failed], results, strict=True)), failed
    scored, failed = {}, {}
    for task in unit:
        try:
            scored[task.id] = score_task(trunk, encoder, task, options)[0]
        except DataError as error:
            failed[task.id] = error
    return scored, failed


def score_all(trunk: ResNet50Trunk, encoder: EncoderSpec, args: argparse.Namespace) -> int:
    """Score `args.tasks` (all, or a comma list) whose data is found; print a summary table.

    Under torchrun the ranks first extract every shared image set together, then each scores its
    share of the units of work (harness.distributed.units_of_work: the lockstep group is one) on
    its own GPU; rank 0 prints the summary of all of them."""
    tasks = (
        list(battery(args.protocol).values())
        if args.tasks == "all"
        else [get_task(t, args.protocol) for t in args.tasks.split(",")]
    )
    world = join(resolve_device(args.device))
    options = options_from(
        args,
        epochs=args.epochs,
        seeds=tuple(args.seed),
        force=args.force,
        grid=args.grid,
        save_heads=args.save_heads,
        world=world,
    )
    seconds = extract_shared(trunk, encoder, tasks, options)
    if seconds:
        log.info("extracted the image sets of %d tasks in %.1fs, each shared set once", len(tasks), seconds)
    alone = dataclasses.replace(options, world=SOLO)
    scored, skipped = {}, {}
    for unit in world.share(units_of_work(tasks, lockstep=not args.no_lockstep)):
        done, failed = score_unit(trunk, encoder, unit, alone, lockstep=not args.no_lockstep)
        scored.update(done)
        for task_id, error in failed.items():
            log.info("%s: skipped, %s", task_id, error)
            skipped[task_id] = str(error)
    every = gather(world, (scored, skipped))
    results = {task: result for done, _ in every for task, result in done.items()}
    missing = {task for _, lost in every for task in lost}
    if world.leader:
        if results:
            print_results([results[t.id] for t in tasks if t.id in results])
        if missing:
            print(
                "not scored, data not found or unreadable: "
                f"{', '.join(t.id for t in tasks if t.id in missing)} (see `ccbench tasks`)"
            )
    return 0 if results else 1


def print_results(results: list[dict[str, Any]]) -> None:
    """One row per result; tasks of a run have different metrics, so the metric is a column."""
    print_table(
        [
            {
                "encoder": r["encoder"]["name"],
                "fingerprint": r["encoder"]["fingerprint"][:12],
                "task": r["task"],
                "metric": r["metric"],
                "score": f"{r['score']:.4f}",
                "val": f"{r['val_score']:.4f}",
                "epoch": r["epoch"],
                "extract_s": f"{r['timings']['extract']:.1f}",
                "train_s": f"{r['timings']['train']:.1f}",
            }
            for r in results
        ],
        ["encoder", "fingerprint", "task", "metric", "score", "val", "epoch", "extract_s", "train_s"],
    )


def cmd_cache(args: argparse.Namespace) -> int:
    if args.action == "ls":
        return list_cache(args)
    if args.action == "rm" and not (args.digests or args.all or args.older_than is not None):
        raise SystemExit("ccbench: error: name store digests to remove, or pass --all or --older-than")
    targets = (
        [p for prefix in args.digests for p in _resolve(args.cache, prefix)]
        if args.digests
        else list_stores(args.cache)
    )
    if args.action == "rm":
        if args.older_than is not None:
            return remove_older(targets, args.older_than)
        for path in targets:
            remove_store(path)
            print(f"removed {path}")
        return 0
    failures = sum(verify_store(path, args.repair) for path in targets)
    if not args.digests:
        failures += sum(verify_checked(path, args.repair) for path in checked.checked_files(args.cache))
    if failures and not args.repair:
        print(
            f"{failures} damaged; `ccbench cache verify --repair` resets them, and the next score or extract "
            "rebuilds exactly them"
        )
    return 1 if failures else 0


def age_text(seconds: float) -> str:
    """An age as its largest whole unit: 45s, 12m, 5h, 30d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def list_cache(args: argparse.Namespace) -> int:
    """Every store with its size on disk and age (since last written)."""
    rows = []
    now = time.time()
    for path in list_stores(args.cache):
        try:
            store = FeatureStore.open_path(path)
        except CacheError as error:
            print(f"ccbench: warning: {error}", file=sys.stderr)
            continue
        size, written = store_usage(path)
        rows.append(
            {
                "digest": store.key.digest,
                "encoder": store.key.encoder,
                "image_set": store.group.attrs.get("image_set"),
                "block": store.key.block,
                "images": store.key.n_images,
                "complete": store.complete,
                "bytes": size,
                "age_s": round(now - written, 1),
                "path": str(path),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print_table(
            [
                {**r, "digest": r["digest"][:16], "encoder": r["encoder"][:12], "age": age_text(r["age_s"])}
                for r in rows
            ],
            ["digest", "encoder", "image_set", "block", "images", "complete", "bytes", "age"],
        )
        print(f"{len(rows)} stores, {sum(r['bytes'] for r in rows)} bytes")
    else:
        print(f"no feature stores under {args.cache}")
    return 0


def remove_older(paths: list[Path], seconds: float) -> int:
    """Remove the stores last written more than `seconds` ago, each under its lock, so a store another
    process is writing is kept (said so); under the lock an unfinished store is a dead writer's."""
    freed = 0
    for path in paths:
        try:
            held = store_lock(path, wait=False)
        except Timeout:
            print(f"kept {path}: another ccbench process is writing it")
            continue
        try:
            size, written = store_usage(path)
            if time.time() - written <= seconds:
                continue
            remove_tree(path)
        finally:
            held.release()
        freed += size
        print(f"removed {path} ({size} bytes, last written {age_text(time.time() - written)} ago)")
    print(f"freed {freed} bytes")
    return 0


def remove_store(path: Path) -> None:
    """Delete a store, unless another process is writing it."""
    try:
        held = store_lock(path, wait=False)
    except Timeout:
        raise CacheError(
            f"{path}: another ccbench process is writing this store; wait for it or stop it, then remove the store"
        ) from None
    try:
        remove_tree(path)
    finally:
        held.release()


def verify_store(path: Path, repair: bool) -> bool:
    """Print a store's state, one line per damaged range; with `repair`, reset the damaged units
    (an unreadable store is removed) so the next extraction computes exactly them. True when damaged."""
    name = path.name.removesuffix(".zarr")[:16]
    try:
        store = FeatureStore.open_path(path)
    except CacheError as error:
        print(f"{name}  unreadable: {error}")
        if repair:
            remove_store(path)
            print(f"{name}  removed; the next score or extract builds it again")
        return True
    damage = store.damage()
    if not damage:
        print(
            f"{name}  "
            + ("ok" if store.complete else f"{len(store.pending_units())} of {store.n_units} units unfinished")
        )
        return not store.complete
    for item in damage:
        print(f"{name}  {item.describe()}")
    if repair:
        units = store.units_of(damage)
        FeatureStore.repair(path, units)
        print(f"{name}  reset {len(units)} unit(s); the next score or extract extracts exactly them again")
    return True


def verify_checked(path: Path, repair: bool) -> bool:
    """Print a damaged label, target or input file (sound ones stay quiet); with `repair`, remove
    it so the next run rebuilds it from the dataset. True when damaged."""
    found = checked.problem(path)
    if found is None:
        return False
    print(f"{path}  {found}")
    if repair:
        checked.remove(path)
        print(f"{path}  removed; the next run rebuilds it from the dataset")
    return True


def cmd_rescore(args: argparse.Namespace) -> int:
    """Recompute each result's per-seed scores and intervals from its predictions file; 1 when one
    differs from what the result records or cannot be checked."""
    failures = 0
    rows = []
    for path in args.results:
        try:
            result = read_result(path)
            recomputed = rescore(result, read_predictions(path, result))
        except (*USER_ERRORS, LeaderboardError) as error:
            print(f"ccbench: error: {error}", file=sys.stderr)
            failures += 1
            continue
        mean = float(np.mean([seed["score"] for seed in recomputed]))
        for seed in recomputed:
            same = seed["score"] == seed["stored_score"] and seed["ci95"] == seed["stored_ci95"]
            failures += not same
            rows.append({"file": str(path), **seed, "same": same})
        if mean != result["score"]:
            failures += 1
            print(f"{path}: mean over seeds {mean!r} differs from the stored score {result['score']!r}")
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print_table(
            [{**r, "ci95": _pair(r["ci95"]), "stored_ci95": _pair(r["stored_ci95"])} for r in rows],
            ["file", "seed", "score", "stored_score", "ci95", "stored_ci95", "same"],
        )
    return 1 if failures else 0


def _pair(interval: list[float] | None) -> str:
    return "-" if interval is None else f"[{interval[0]:.6g}, {interval[1]:.6g}]"


def cmd_validate(args: argparse.Namespace) -> int:
    """Check each file against the result schema and, where it names one, its predictions file's sha256;
    one line per file. 1 when any is refused."""
    refused = 0
    for path in args.files:
        try:
            result = read_result(path)
            if "predictions" in result:
                read_predictions(path, result)
        except LeaderboardError as error:
            print(error)
            refused += 1
            continue
        print(f"{path}: ok")
    return 1 if refused else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Regenerate the leaderboard (CSV, Markdown, static HTML, plots) from the result files."""
    written = build_leaderboard(
        args.results,
        args.out,
        include_overrides=args.include_overrides,
        supervised=args.supervised,
        echo=print,
        protocol=args.protocol,
    )
    for kind, path in written.items():
        print(f"{kind:<10} {path}")
    return 0


def _resolve(root: Path, prefix: str) -> list[Path]:
    matches = find_stores(root, prefix)
    if not matches:
        raise SystemExit(
            f"ccbench: error: no feature store under {root} starts with {prefix!r}; see `ccbench cache ls`"
        )
    return matches


def cmd_demo(args: argparse.Namespace) -> int:
    """Score two random encoders on a learnable CIFAR-100-format dataset, end to end, and rank them."""
    out = args.out or Path(tempfile.mkdtemp(prefix="ccbench-demo-"))
    data_root = out / "data"
    write_cifar100(data_root, n_train=args.train_images, n_test=args.test_images, seed=0)
    print(
        f"demo: wrote a synthetic CIFAR-100-format dataset ({N_CLASSES} drawn colour/fill classes, "
        f"{args.train_images} train / {args.test_images} test images) to {data_root}"
    )
    device = resolve_device(args.device)
    options = ScoreOptions(
        data_root=data_root,
        cache_root=out / "cache",
        results_dir=out / "results",
        device=device,
        batch_size=args.batch_size,
        workers=args.workers,
        epochs=args.epochs,
        image_size=args.image_size,
        quiet=args.quiet,
        compute=resolve_compute(args.compute, device),
        decode=resolve_decode(args.decode, device),
    )
    task = get_task("cifar100")
    results = []
    for source in ("random:0", "random:1"):
        trunk, encoder = load_encoder(source)
        results.append(score_task(trunk, encoder, task, options)[0])
    print_results(results)
    print(
        f"chance level: {1 / N_CLASSES:.3f} (classes present); results in {options.results_dir}, "
        f"feature cache in {options.cache_root}"
    )
    # The demo's runs are non-standard (small images), so its board ranks overrides by design.
    written = build_leaderboard(options.results_dir, out / "leaderboard", include_overrides=True)
    print(f"leaderboard: {written['html']}")
    return 0
