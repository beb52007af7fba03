"""`ccbench`: list tasks, inspect checkpoints, extract features, score, submit, build the leaderboard,
manage the cache, run the demo."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

from encoders import EncoderSpec, ResNet50Trunk, fingerprint, load_encoder, read_checkpoint, study_encoder
from harness.cache import FeatureStore, find_stores, list_stores
from harness.cka import add_command as add_cka_command
from harness.costs import calibrate, save_calibration
from harness.dense import dense_cached_readers, plan_task
from harness.errors import USER_ERRORS, CacheError
from harness.evaluate import score_task
from harness.options import MODES, ScoreOptions
from harness.prepare import run_extraction
from harness.plan import plan, task_readers
from leaderboard.errors import LeaderboardError
from leaderboard.render import build as build_leaderboard
from tasks import TASKS, DataError, get_task
from tasks.synthetic import N_CLASSES, write_cifar100

log = logging.getLogger("ccbench")


def default_path(variable: str, fallback: str | None) -> Path | None:
    value = os.environ.get(variable, fallback)
    return Path(value).expanduser() if value else None


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned text table (no dependency for one print)."""
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def cmd_tasks(args: argparse.Namespace) -> int:
    rows = [{"id": t.id, "category": t.category, "head": t.head, "metric": t.metric, "data_folder": t.data_folder,
             "found": bool(args.data_root) and (args.data_root / t.data_folder).is_dir()} for t in TASKS.values()]
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
    info = {"format": report.format, "key": report.key, "prefix": report.prefix,
            "fingerprint": fingerprint(report.state) if report.ok else None, "tensors": report.tensors,
            "missing": list(report.missing), "unexpected": list(report.unexpected), "nonfinite": list(report.nonfinite),
            "candidates": [dataclasses.asdict(candidate) for candidate in report.candidates]}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"file         {args.checkpoint}")
        shown = {**info, "prefix": None if report.prefix is None else shlex.quote(report.prefix)}
        for key in ("format", "key", "prefix", "fingerprint", "tensors"):
            print(f"{key:<12} {shown[key]}")
        for key in ("missing", "unexpected", "nonfinite"):
            print(f"{key:<12} {len(info[key])}" + "".join(f"\n  {name}" for name in info[key]))
        print(f"candidates   {len(report.candidates)}"
              + "".join(f"\n  {candidate.flags()} ({candidate.format})" for candidate in report.candidates))
        print("loadable     yes" if report.ok else "loadable     no")
    if report.error is not None:
        print(f"ccbench: {report.error}", file=sys.stderr)
    return 0 if report.ok else 1


def options_from(args: argparse.Namespace, **extra: Any) -> ScoreOptions:
    if args.data_root is None:
        raise SystemExit("ccbench: error: no data root; pass --data-root or set CCBENCH_DATA")
    dense = {name: getattr(args, name) for name in ("mode", "views", "cache_budget", "memory_budget")
             if hasattr(args, name)}
    return ScoreOptions(data_root=args.data_root, cache_root=args.cache, results_dir=args.results,
                        device=args.device, batch_size=args.batch_size, workers=args.workers,
                        image_size=args.image_size, quiet=args.quiet, **dense, **extra)


def byte_size(text: str) -> int:
    """'500M', '2.5G', '1T' or plain bytes -> bytes (powers of 1024)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if text[-1:].upper() in units:
            return int(float(text[:-1]) * units[text[-1].upper()])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500M, 50G)") from None


def cmd_calibrate(args: argparse.Namespace) -> int:
    calibration = calibrate(args.device)
    path = save_calibration(args.cache, calibration)
    print(f"encoder   {calibration.encoder_images_per_s:8.1f} images/s (224 px, all five maps, {args.device})")
    for head, rate in calibration.head_samples_per_s.items():
        print(f"{head:<13} {rate:8.1f} samples/s (training step at 224 px)")
    print(f"cache read {calibration.read_mb_per_s:7.0f} MB/s")
    print(f"saved: {path}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Per dense task found: blocks, views, images, bytes and each mode's seconds per epoch."""
    options = options_from(args, epochs=args.epochs)
    tasks = [t for t in TASKS.values() if t.dense] if args.tasks == "all" else [get_task(t) for t in args.tasks.split(",")]
    _, encoder = load_encoder(args.encoder, name=args.name, trust=args.trust_checkpoint, key=args.key,
                              prefix=args.prefix)
    rows, missing = [], []
    for task in tasks:
        if not task.dense:
            rows.append({"task": task.id, "blocks": ",".join(task.blocks), "views": 1, "images": "-", "raw": "-",
                         "stored": "-", "cache s/epoch": "-", "loop s/epoch": "-",
                         "choice": "cache (pooled vectors held in memory)"})
            continue
        try:
            plan = plan_task(encoder, task, options)
        except DataError as error:
            missing.append(f"{task.id}: {error}")
            continue
        seconds = lambda value: "-" if value is None else f"{value:.1f}"
        rows.append({"task": task.id, "blocks": ",".join(plan.blocks), "views": plan.views, "images": plan.rows,
                     "raw": f"{plan.raw_bytes / 1e9:.2f} GB", "stored": f"{plan.stored_bytes / 1e9:.2f} GB",
                     "cache s/epoch": seconds(plan.cache_epoch_s), "loop s/epoch": seconds(plan.loop_epoch_s),
                     "choice": f"{plan.choice} ({plan.reason})"})
    if rows:
        print_table(rows, ["task", "blocks", "views", "images", "raw", "stored", "cache s/epoch", "loop s/epoch",
                           "choice"])
    for line in missing:
        print(f"not planned: {line}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    options = options_from(args)
    trunk, encoder = load_encoder(args.encoder, name=args.name, trust=args.trust_checkpoint, key=args.key,
                                  prefix=args.prefix)
    roles = list(task.splits) if args.split == "all" else [args.split]
    found = dense_cached_readers(encoder, task, options) if task.dense else task_readers(task, options.data_root)
    readers = {task.id: {role: r for role, r in found.items() if role in roles}}
    for (_, role), job in plan(encoder, [task], readers, options.image_size).items():
        seconds = run_extraction(trunk, job, options)
        for block, key in job.keys.items():
            print(f"{job.image_set:<32} {block:<7} {key.digest[:16]}  "
                  + (f"extracted in {seconds:.1f}s" if seconds else "already cached"))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    options = options_from(args, epochs=args.epochs, seeds=tuple(args.seed), force=args.force, grid=args.grid)
    trunk, encoder = load_encoder(args.encoder, name=args.name, trust=args.trust_checkpoint, key=args.key,
                                  prefix=args.prefix)
    result, path = score_task(trunk, encoder, task, options)
    print_results([result])
    print(f"result: {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Every requested task whose data is found, one after another; missing data is reported, not fatal."""
    trunk, encoder = load_encoder(args.encoder, name=args.name, trust=args.trust_checkpoint, key=args.key,
                                  prefix=args.prefix)
    return score_all(trunk, encoder, args)


def cmd_submit(args: argparse.Namespace) -> int:
    """Inspect strictly, score every task whose data is found, then regenerate the leaderboard.

    A name of the study (e.g. "MoCo v2 ImageNet 200") fills in its metadata; flags override it.
    """
    trunk, encoder = load_encoder(str(args.checkpoint), name=args.name, trust=args.trust_checkpoint,
                                  key=args.key, prefix=args.prefix)
    known = study_encoder(args.name)
    given = {"method": args.method, "pretrain_data": args.pretrain_data, "pretrain_images": args.pretrain_images,
             "pretrain_epochs": args.pretrain_epochs}
    metadata = {field: value if value is not None else getattr(known, field, None) for field, value in given.items()}
    encoder = dataclasses.replace(encoder, **metadata)
    print(f"{encoder.name}: {encoder.format} checkpoint, fingerprint {encoder.fingerprint[:16]}, "
          + ", ".join(f"{k}={v}" for k, v in metadata.items() if v is not None))
    status = score_all(trunk, encoder, args)
    if status == 0:
        try:
            cmd_leaderboard(args)
        except LeaderboardError as error:
            print(f"results written; leaderboard not rebuilt: {error}")
    return status


def score_all(trunk: ResNet50Trunk, encoder: EncoderSpec, args: argparse.Namespace) -> int:
    """Score `args.tasks` (all, or a comma list) whose data is found; print a summary table."""
    tasks = list(TASKS.values()) if args.tasks == "all" else [get_task(t) for t in args.tasks.split(",")]
    options = options_from(args, epochs=args.epochs, seeds=tuple(args.seed), force=args.force, grid=args.grid)
    results, missing = [], []
    for task in tasks:
        try:
            results.append(score_task(trunk, encoder, task, options)[0])
        except DataError as error:
            missing.append(task.id)
            log.info("%s: skipped, %s", task.id, error)
    if results:
        print_results(results)
    if missing:
        print(f"not scored, data not found or unreadable: {', '.join(missing)} (see `ccbench tasks`)")
    return 0 if results else 1


def print_results(results: list[dict[str, Any]]) -> None:
    print_table([{"encoder": r["encoder"]["name"], "fingerprint": r["encoder"]["fingerprint"][:12],
                  "task": r["task"], r["metric"]: f"{r['score']:.4f}", "val": f"{r['val_score']:.4f}",
                  "epoch": r["epoch"], "extract_s": f"{r['timings']['extract']:.1f}",
                  "train_s": f"{r['timings']['train']:.1f}"} for r in results],
                ["encoder", "fingerprint", "task", results[0]["metric"], "val", "epoch", "extract_s", "train_s"])


def cmd_cache(args: argparse.Namespace) -> int:
    if args.action == "ls":
        rows = []
        for path in list_stores(args.cache):
            try:
                store = FeatureStore.open_path(path)
            except CacheError as error:
                print(f"ccbench: warning: {error}", file=sys.stderr)
                continue
            rows.append({"digest": store.key.digest, "encoder": store.key.encoder, "image_set":
                         store.group.attrs.get("image_set"), "block": store.key.block, "images": store.key.n_images,
                         "complete": store.complete, "bytes": store.nbytes_stored(), "path": str(path)})
        if args.json:
            print(json.dumps(rows, indent=2))
        elif rows:
            print_table([{**r, "digest": r["digest"][:16], "encoder": r["encoder"][:12]} for r in rows],
                        ["digest", "encoder", "image_set", "block", "images", "complete", "bytes"])
        else:
            print(f"no feature stores under {args.cache}")
        return 0
    if args.action == "rm" and not (args.digests or args.all):
        raise SystemExit("ccbench: error: name store digests to remove, or pass --all")
    targets = [p for prefix in args.digests for p in _resolve(args.cache, prefix)] if args.digests \
        else list_stores(args.cache)
    if args.action == "rm":
        for path in targets:
            shutil.rmtree(path)
            print(f"removed {path}")
        return 0
    failures = 0
    for path in targets:
        problems = FeatureStore.open_path(path).verify()
        failures += bool(problems)
        print(f"{path.name.removesuffix('.zarr')[:16]}  " + ("ok" if not problems else "; ".join(problems)))
    return 1 if failures else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Regenerate the leaderboard (CSV, Markdown, static HTML, plots) from the result files."""
    written = build_leaderboard(args.results, args.out, include_overrides=args.include_overrides,
                                supervised=args.supervised, echo=print)
    for kind, path in written.items():
        print(f"{kind:<10} {path}")
    return 0


def _resolve(root: Path, prefix: str) -> list[Path]:
    matches = find_stores(root, prefix)
    if not matches:
        raise SystemExit(f"ccbench: error: no feature store under {root} starts with {prefix!r}; see `ccbench cache ls`")
    return matches


def cmd_demo(args: argparse.Namespace) -> int:
    """Score two random encoders on a learnable CIFAR-100-format dataset, end to end."""
    out = args.out or Path(tempfile.mkdtemp(prefix="ccbench-demo-"))
    data_root = out / "data"
    write_cifar100(data_root, n_train=args.train_images, n_test=args.test_images, seed=0)
    print(f"demo: wrote a synthetic CIFAR-100-format dataset ({N_CLASSES} drawn colour/fill classes, "
          f"{args.train_images} train / {args.test_images} test images) to {data_root}")
    options = ScoreOptions(data_root=data_root, cache_root=out / "cache", results_dir=out / "results",
                           device=args.device, batch_size=args.batch_size, workers=args.workers,
                           epochs=args.epochs, image_size=args.image_size, quiet=args.quiet)
    task = get_task("cifar100")
    results = []
    for source in ("random:0", "random:1"):
        trunk, encoder = load_encoder(source)
        results.append(score_task(trunk, encoder, task, options)[0])
    print_results(results)
    print(f"chance level: {1 / N_CLASSES:.3f} (classes present); results in {options.results_dir}, "
          f"feature cache in {options.cache_root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", type=Path, default=default_path("CCBENCH_DATA", None),
                        help="folder holding each task's data folder (default: $CCBENCH_DATA)")
    common.add_argument("--cache", type=Path, default=default_path("CCBENCH_CACHE", "~/.cache/ccbench"),
                        help="feature cache root (default: $CCBENCH_CACHE or ~/.cache/ccbench)")
    common.add_argument("--results", type=Path, default=default_path("CCBENCH_RESULTS", "results"),
                        help="results folder (default: $CCBENCH_RESULTS or ./results)")
    common.add_argument("--quiet", action="store_true", help="plain log lines instead of progress bars")
    compute = argparse.ArgumentParser(add_help=False)
    compute.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    compute.add_argument("--batch-size", type=int, default=64, help="extraction batch size")
    compute.add_argument("--workers", type=int, default=min(4, max((os.cpu_count() or 1) - 1, 0)),
                         help="image decoding processes")
    compute.add_argument("--image-size", type=int, help="override the task's input size (recorded as an override)")
    choice = argparse.ArgumentParser(add_help=False)
    choice.add_argument("--key", help="the dict in the checkpoint that holds the weights, where several do: e.g. "
                                      "teacher, state_dict, a/b when nested, . for the top level (default: detected)")
    choice.add_argument("--prefix", help="the key prefix before torchvision's names, where several fit: e.g. "
                                         "module.encoder_k., '' for none (default: detected)")
    encoder = argparse.ArgumentParser(add_help=False, parents=[choice])
    encoder.add_argument("--encoder", required=True, help="a checkpoint file, or random:SEED")
    encoder.add_argument("--name", help="display name (default: the file's stem)")
    encoder.add_argument("--trust-checkpoint", action="store_true",
                         help="allow pickled Python objects in the checkpoint (only for files you trust)")
    training = argparse.ArgumentParser(add_help=False)
    training.add_argument("--epochs", type=int, help="override the task's epochs (recorded as an override)")
    training.add_argument("--seed", type=int, nargs="+", default=[0],
                          help="head seed(s); several give the mean and every raw score")
    training.add_argument("--grid", default="table2",
                          help="table2 (one point), paper (five), or a JSON file of {optimizer, lr} points")
    training.add_argument("--force", action="store_true", help="rescore even when a result exists")
    dense = argparse.ArgumentParser(add_help=False)
    dense.add_argument("--mode", choices=MODES, default="auto",
                       help="dense heads: train from the feature cache, with the encoder in the loop, or as "
                            "`ccbench plan` chooses (default)")
    dense.add_argument("--views", type=int, help="crop views cached per training image of crop tasks "
                                                 "(recorded as an override)")
    dense.add_argument("--cache-budget", type=byte_size,
                       help="disk the feature cache may take per dense task (e.g. 200G); over it, loop mode")
    dense.add_argument("--memory-budget", type=byte_size,
                       help="cached maps of a split up to this size are held in memory, larger ones streamed "
                            "(default: half the GPU's free memory, a quarter of the host's; 0 always streams)")

    board = argparse.ArgumentParser(add_help=False)
    board.add_argument("--out", type=Path, default=Path("leaderboard-out"),
                       help="leaderboard output folder (default ./leaderboard-out)")
    board.add_argument("--include-overrides", action="store_true", help="rank non-standard runs too (e.g. the demo's)")
    board.add_argument("--supervised", help="name or fingerprint prefix of the supervised reference encoder")

    parser = argparse.ArgumentParser(prog="ccbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks", parents=[common], help="list the battery and which datasets are found")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_tasks)
    p = sub.add_parser("inspect", parents=[common, choice], help="detect a checkpoint's format and check its keys")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--trust-checkpoint", action="store_true")
    p.set_defaults(run=cmd_inspect)
    p = sub.add_parser("extract", parents=[common, compute, encoder], help="fill the feature cache for a task")
    p.add_argument("--task", required=True, help="a task id from `ccbench tasks`")
    p.add_argument("--split", choices=["train", "test", "all"], default="all")
    p.add_argument("--views", type=int, help="crop or colour views per training image of a dense task")
    p.set_defaults(run=cmd_extract)
    p = sub.add_parser("score", parents=[common, compute, encoder, training, dense],
                       help="extract if needed, train, test, write the result")
    p.add_argument("--task", required=True, help="a task id from `ccbench tasks`")
    p.set_defaults(run=cmd_score)
    p = sub.add_parser("run", parents=[common, compute, encoder, training, dense],
                       help="score every task whose data is found, skipping those already scored")
    p.add_argument("--tasks", default="all", help="all, or a comma-separated list of task ids")
    p.set_defaults(run=cmd_run)
    p = sub.add_parser("submit", parents=[common, compute, training, dense, board, choice],
                       help="score a checkpoint on every task found, with its metadata, and rebuild the leaderboard")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--name", required=True, help='display name; a study name such as "MoCo v2 ImageNet 200" fills '
                                                 "in the metadata below")
    p.add_argument("--method", help="pre-training method, e.g. SwAV, MoCo v2, supervised")
    p.add_argument("--pretrain-data", help="pre-training data, e.g. ImageNet, Places")
    p.add_argument("--pretrain-images", type=int, help="number of pre-training images")
    p.add_argument("--pretrain-epochs", type=int, help="pre-training epochs")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow pickled Python objects in the checkpoint (only for files you trust)")
    p.add_argument("--tasks", default="all", help="all, or a comma-separated list of task ids")
    p.set_defaults(run=cmd_submit)
    p = sub.add_parser("cache", parents=[common], help="list, verify or remove feature stores")
    p.add_argument("action", choices=["ls", "verify", "rm"])
    p.add_argument("digests", nargs="*", help="store digests or unique prefixes (verify: default all)")
    p.add_argument("--all", action="store_true", help="rm: remove every store")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_cache)
    p = sub.add_parser("calibrate", parents=[common, compute],
                       help="measure this machine's encoder, dense head and cache read speeds for the planner")
    p.set_defaults(run=cmd_calibrate)
    p = sub.add_parser("plan", parents=[common, compute, encoder, dense],
                       help="per dense task: bytes cached and seconds per epoch from the cache vs encoder in the loop")
    p.add_argument("--tasks", default="all", help="all dense tasks, or a comma-separated list of task ids")
    p.add_argument("--epochs", type=int, help="override the task's epochs")
    p.set_defaults(run=cmd_plan)
    p = sub.add_parser("leaderboard", parents=[common, board], help="regenerate the leaderboard from the result files")
    p.set_defaults(run=cmd_leaderboard)
    p = sub.add_parser("demo", parents=[common, compute], help="score two random encoders on a synthetic dataset")
    p.add_argument("--out", type=Path, help="where data, cache and results go (default: a new temp folder)")
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--test-images", type=int, default=300)
    p.add_argument("--epochs", type=int, help="override the task's epochs")
    p.set_defaults(run=cmd_demo, image_size=64)
    add_cka_command(sub, [common, compute])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.run(args)
    except (*USER_ERRORS, LeaderboardError) as error:
        print(f"ccbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ccbench: interrupted; rerun the same command to resume (finished cache units are kept)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
