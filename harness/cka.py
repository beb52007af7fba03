"""`ccbench cka`: linear CKA between the blocks of two encoders, from cached features, as a heatmap.

Linear CKA (Kornia et al., 2019) of X (n x d1) and Y (n x d2) over the same n images is

    CKA = ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) = <Kc, Lc> / (||Kc||_F ||Lc||_F)

with Xc, Yc column-centred, K = X X^T, L = Y Y^T and Kc = H K H (H the centring matrix). This is
the plain (biased) HSIC estimator; the debiased one (Nguyen et al., 2021) is not computed, so
values over few images sit above zero even for unrelated representations.

Memory does not grow with the data. Both forms accumulate in float64:

- feature space (`FeatureCKA`): row chunks update X^T X, Y^T Y, X^T Y and the column sums, centred
  at the end; d1^2 + d2^2 + d1 d2 floats whatever n (pooled 2048 vectors: 100 MB);
- Gram space (`Gram`): column chunks update the n x n Gram; n^2 floats, 800 MB at n = 10,000,
  whatever d (the stem at 112 px flattens to 200,704 values).

A pair takes the space that holds fewer numbers (`use_gram`); at 112 px and 10,000 images every
spatial block goes through Grams and the pooled pair through features. The matrix computes each
Gram once: encoder B's centred Grams are spilled to float64 files beside the cache (n^2 * 8 bytes
each), then each Gram of encoder A meets them slab by slab. Peak memory at n = 10,000 is about
2 GB: one Gram, a SLAB_BYTES float16 column slab and one float64 GEMM block.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from encoders import load_encoder
from harness.cache import FeatureStore
from harness.errors import CcbenchError
from harness.options import options_from
from harness.plan import plan
from harness.prepare import cached_stores, run_extraction
from harness.progress import progress
from harness.results import write_error
from leaderboard.files import write_atomic
from tasks import get_task
from tasks.readers import FrameReader, Reader

log = logging.getLogger("ccbench")

CHUNK_ROWS = 256
"""Images per row chunk in feature space: whole cache units (powers of two up to 256) fill it."""

SLAB_BYTES = 1 << 30
"""float16 bytes of one column slab (all n rows, some columns) in Gram space: more passes over a
store when smaller, more memory when larger (the stem at n = 10,000 takes 4 passes)."""

GEMM_COLUMNS = 2048
"""Columns converted to float64 per Gram update: n x 2048 float64 is 164 MB at n = 10,000."""


def _float64(values: np.ndarray | torch.Tensor, device: str | torch.device) -> torch.Tensor:
    return torch.as_tensor(values).to(device=device, dtype=torch.float64)


def _ratio(cross: float, self_x: float, self_y: float) -> float:
    """CKA from the three HSIC terms; NaN when a representation is constant (CKA is undefined)."""
    denominator = math.sqrt(self_x * self_y)
    return cross / denominator if denominator > 0 else float("nan")


class FeatureCKA:
    """Linear CKA of two representations fed as row chunks of the same images, in feature space."""

    def __init__(self, d1: int, d2: int, device: str = "cpu") -> None:
        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, dtype=torch.float64, device=device)

        self.device = device
        self.xx, self.yy, self.xy = zeros(d1, d1), zeros(d2, d2), zeros(d1, d2)
        self.sx, self.sy = zeros(d1), zeros(d2)
        self.n = 0

    def update(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> None:
        """Add rows (r x d1, r x d2): the same r images in both."""
        x, y = _float64(x, self.device), _float64(y, self.device)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"row chunks must hold the same images, got {x.shape[0]} and {y.shape[0]} rows")
        self.xx.addmm_(x.T, x)
        self.yy.addmm_(y.T, y)
        self.xy.addmm_(x.T, y)
        self.sx += x.sum(0)
        self.sy += y.sum(0)
        self.n += x.shape[0]

    def value(self) -> float:
        """Centre the accumulated products (Xc^T Yc = X^T Y - sx sy^T / n) and take the ratio."""
        xx = self.xx - torch.outer(self.sx, self.sx) / self.n
        yy = self.yy - torch.outer(self.sy, self.sy) / self.n
        xy = self.xy - torch.outer(self.sx, self.sy) / self.n
        return _ratio(float((xy * xy).sum()), float((xx * xx).sum()), float((yy * yy).sum()))


class Gram:
    """The n x n Gram X X^T of one representation, fed as column chunks (all n rows each)."""

    def __init__(self, n: int, device: str = "cpu") -> None:
        self.k = torch.zeros(n, n, dtype=torch.float64, device=device)

    def update(self, columns: np.ndarray | torch.Tensor) -> None:
        """Add n x c columns, converted to float64 GEMM_COLUMNS at a time."""
        for start in range(0, columns.shape[1], GEMM_COLUMNS):
            part = _float64(columns[:, start : start + GEMM_COLUMNS], self.k.device)
            self.k.addmm_(part, part.T)

    def centred(self) -> torch.Tensor:
        """H K H, in place: subtract column means, then row means of the result."""
        self.k -= self.k.mean(0, keepdim=True)
        self.k -= self.k.mean(1, keepdim=True)
        return self.k


def gram_cka(kc: torch.Tensor, lc: torch.Tensor) -> float:
    """CKA from two centred Grams."""
    return _ratio(float((kc * lc).sum()), float((kc * kc).sum()), float((lc * lc).sum()))


def use_gram(n: int, d1: int, d2: int) -> bool:
    """Whether Gram space (2 n^2 floats) holds fewer numbers than feature space (d1^2 + d2^2 + d1 d2)."""
    return 2 * n * n < d1 * d1 + d2 * d2 + d1 * d2


def linear_cka(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, device: str = "cpu") -> float:
    """Linear CKA of two whole representations (n x d1, n x d2), in the smaller space."""
    (n, d1), d2 = x.shape, y.shape[1]
    if use_gram(n, d1, d2):
        k, m = Gram(n, device), Gram(n, device)
        k.update(x)
        m.update(y)
        return gram_cka(k.centred(), m.centred())
    accumulator = FeatureCKA(d1, d2, device)
    accumulator.update(x, y)
    return accumulator.value()


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` sorted indices with every class present equally often: each class gets the largest
    common count q its size allows (smaller classes all of theirs), and the few left over go one
    each to classes with images to spare, drawn with `seed`, as are the images within a class."""
    labels = np.asarray(labels)
    if not 0 < n <= len(labels):
        raise ValueError(f"cannot draw {n} of {len(labels)} images")
    classes, sizes = np.unique(labels, return_counts=True)
    level = max(q for q in range(int(sizes.max()) + 1) if np.minimum(sizes, q).sum() <= n)
    quotas = np.minimum(sizes, level)
    rng = np.random.default_rng(seed)
    spare = np.flatnonzero(sizes > level)
    quotas[rng.choice(spare, n - int(quotas.sum()), replace=False)] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), quota, replace=False) for c, quota in zip(classes, quotas)]
    return np.sort(np.concatenate(chosen))


class SubsetReader(Reader):
    """Some images of another reader, in its order. The ids are the base reader's ids of those
    images, so the manifest digest, and with it every cache key, names exactly this subset (the
    whole set in order is the base set itself and shares its stores)."""

    def __init__(self, base: Reader, indices: Sequence[int]) -> None:
        # Not Reader.__init__: it only checks a split name, which the base reader has done.
        self.base, self.indices = base, [int(i) for i in indices]
        self.root, self.split = base.root, base.split
        self.classes = getattr(base, "classes", [])

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, index: int) -> np.ndarray:
        return self.base.image(self.indices[index])

    def labels(self) -> np.ndarray:
        return self.base.labels()[self.indices]

    def image_ids(self) -> list[str]:
        ids = self.base.image_ids()
        return [ids[i] for i in self.indices]

    def content_digest(self) -> str:
        return self.base.content_digest()


def _width(store: FeatureStore) -> int:
    return math.prod(store.features.shape[1:])


def _row_chunks(store: FeatureStore) -> Iterator[np.ndarray]:
    """The store's rows flattened, CHUNK_ROWS at a time (the last chunk shorter)."""
    buffer: list[np.ndarray] = []
    for _, values in store.iter_units():
        buffer.append(values.reshape(len(values), -1))
        if sum(len(part) for part in buffer) >= CHUNK_ROWS:
            yield np.concatenate(buffer)
            buffer = []
    if buffer:
        yield np.concatenate(buffer)


def store_gram(store: FeatureStore, device: str) -> Gram:
    """A store's Gram from column slabs: each pass decodes the store once and keeps the columns of
    its slab, so a wide block costs a few passes instead of holding all of it."""
    n, width = store.key.n_images, _width(store)
    columns = max(1, SLAB_BYTES // (2 * n))
    gram = Gram(n, device)
    for start in range(0, width, columns):
        stop = min(start + columns, width)
        slab = np.empty((n, stop - start), dtype=np.float16)
        for rows, values in store.iter_units():
            slab[rows.start : rows.stop] = values.reshape(len(rows), -1)[:, start:stop]
        gram.update(slab)
    return gram


def _inner_with_file(kc: torch.Tensor, path: Path) -> float:
    """<Kc, Lc> with Lc read from its .npy file CHUNK_ROWS rows at a time."""
    lc = np.load(path, mmap_mode="r")
    return sum(
        float((kc[r : r + CHUNK_ROWS] * _float64(np.array(lc[r : r + CHUNK_ROWS]), kc.device)).sum())
        for r in range(0, len(lc), CHUNK_ROWS)
    )


def feature_cka(store_a: FeatureStore, store_b: FeatureStore, device: str) -> float:
    accumulator = FeatureCKA(_width(store_a), _width(store_b), device)
    for x, y in zip(_row_chunks(store_a), _row_chunks(store_b), strict=True):
        accumulator.update(x, y)
    return accumulator.value()


def cka_matrix(
    stores_a: dict[str, FeatureStore],
    stores_b: dict[str, FeatureStore],
    device: str,
    workdir: Path,
    advance: Callable[[int], None] = lambda done: None,
) -> tuple[np.ndarray, list[list[str]]]:
    """CKA of every block of A (rows) with every block of B (columns), and the space each used.
    `advance(1)` is called per pair; B's Gram files go to a temporary folder under `workdir`."""
    n = next(iter(stores_a.values())).key.n_images
    spaces = [
        ["gram" if use_gram(n, _width(a), _width(b)) else "feature" for b in stores_b.values()]
        for a in stores_a.values()
    ]
    matrix = np.full((len(stores_a), len(stores_b)), np.nan)
    gram_columns = sorted({j for row in spaces for j, space in enumerate(row) if space == "gram"})
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="cka-grams-") as spill:
        spilled = {}
        for j in gram_columns:
            lc = store_gram(list(stores_b.values())[j], device).centred()
            path = Path(spill) / f"{j}.npy"
            np.save(path, lc.cpu().numpy())
            spilled[j] = (path, float((lc * lc).sum()))
            del lc
        for i, store_a in enumerate(stores_a.values()):
            kc = store_gram(store_a, device).centred() if "gram" in spaces[i] else None
            self_k = float((kc * kc).sum()) if kc is not None else 0.0
            for j, store_b in enumerate(stores_b.values()):
                if spaces[i][j] == "feature":
                    matrix[i, j] = feature_cka(store_a, store_b, device)
                else:
                    path, self_l = spilled[j]
                    matrix[i, j] = _ratio(_inner_with_file(kc, path), self_k, self_l)
                advance(1)
            del kc
    return matrix, spaces


def heatmap(record: dict, path: Path) -> None:
    """Blocks of A down, blocks of B across, each cell annotated (a bare Figure: Agg, no display)."""
    matrix = np.array(record["matrix"], dtype=float)
    a, b = record["encoders"]
    fig = Figure(figsize=(1.1 * matrix.shape[1] + 2.5, 0.9 * matrix.shape[0] + 1.8))
    ax = fig.subplots()
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color="black" if value > 0.6 else "white")
    ax.set_xticks(range(matrix.shape[1]), record["blocks"], rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), record["blocks"])
    ax.set_xlabel(f"{b['name']} ({b['fingerprint'][:8]})")
    ax.set_ylabel(f"{a['name']} ({a['fingerprint'][:8]})")
    ax.set_title(
        f"linear CKA, {record['task']} {record['split']}, {record['n']} images at {record['image_size']} px", fontsize=9
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


def cmd_cka(args: argparse.Namespace) -> int:
    """Extract the blocks of both encoders on a balanced subset, then write the CKA matrix as JSON and PNG."""
    options = options_from(args)
    task = get_task(args.task)
    if args.split not in task.splits:
        raise CcbenchError(f"task {task.id} has no {args.split} split; pass --split {' or '.join(task.splits)}")
    reader = task.reader(Path(options.data_root) / task.data_folder, task.splits[args.split])
    if isinstance(reader, FrameReader):
        raise CcbenchError(
            f"task {task.id}: samples of several frames have no single image to compare; pick an image task with --task"
        )
    if not 0 < args.images <= len(reader):
        raise CcbenchError(
            f"{reader.root}: the {reader.split} split holds {len(reader)} images, cannot draw "
            f"--images {args.images}; pass a count from 1 to {len(reader)}"
        )
    subset = SubsetReader(reader, balanced_subset(reader.labels(), args.images, args.seed))
    task = dataclasses.replace(task, blocks=tuple(args.blocks))
    started = time.perf_counter()
    specs, stores = [], []
    for source in args.encoders:
        trunk, spec = load_encoder(source, trust=args.trust_checkpoint)
        jobs = plan(spec, [task], {task.id: {args.split: subset}}, options.image_size, **options.extraction())
        job = jobs[(task.id, args.split)]
        run_extraction(trunk, job, options)
        specs.append(spec)
        stores.append(cached_stores(job, task.blocks, options.cache_root))
    extracted = time.perf_counter()
    with progress(len(task.blocks) ** 2, f"cka {len(task.blocks)}x{len(task.blocks)} blocks", options.quiet) as advance:
        matrix, spaces = cka_matrix(stores[0], stores[1], options.device, options.cache_root, advance)
    record = {
        "encoders": [{"name": s.name, "fingerprint": s.fingerprint, "source": s.source} for s in specs],
        "blocks": list(task.blocks),
        "matrix": [[None if math.isnan(v) else v for v in row] for row in matrix.tolist()],
        "spaces": spaces,
        "estimator": "linear CKA, biased HSIC (not debiased)",
        "task": task.id,
        "split": args.split,
        "n": len(subset),
        "subset_seed": args.seed,
        "images": subset.manifest_digest,
        "image_size": options.image_size,
        "timings": {"extract": round(extracted - started, 3), "cka": round(time.perf_counter() - extracted, 3)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = args.out or options.results_dir / "cka"
    out.mkdir(parents=True, exist_ok=True)
    stem = (
        f"{specs[0].fingerprint[:12]}_{specs[1].fingerprint[:12]}_{task.id}_{args.split}"
        f"_n{len(subset)}_{options.image_size}px"
    )
    try:
        write_atomic(out / f"{stem}.json", json.dumps(record, indent=2))
    except OSError as error:
        raise write_error(out / f"{stem}.json", "CKA record", error) from None
    heatmap(record, out / f"{stem}.png")
    width = max(len(block) for block in task.blocks)
    print(f"{specs[0].name} (rows) vs {specs[1].name} (columns), {len(subset)} images of {task.id} {args.split}")
    print(" " * width + "".join(f"  {block:>7}" for block in task.blocks))
    for block, row in zip(task.blocks, matrix):
        print(f"{block:<{width}}" + "".join(f"  {value:7.3f}" for value in row))
    print(f"cka: {out / stem}.json, {out / stem}.png")
    return 0
