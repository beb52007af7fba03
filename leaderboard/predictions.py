"""Per-sample predictions beside a result: what its score and interval are computed from, kept so that
anyone can recompute them (`ccbench rescore`), audit them sample by sample, or test two results on
their shared test samples (docs/PROTOCOL.md §6).

One compressed numpy file per result, `<result stem>.predictions.npz`, readable with numpy alone
(no pickle), holding for every seed of the result:
    metric      the metric's name
    ids         (N,) the test sample ids, in scoring order (a frame sample's frame ids joined by '+')
    seeds       (S,) the seeds, in the result's order
    image-level (top1): predicted (S, N) class indices and targets (N,) class indices
    dense:      statistics (S, N, K): each image's terms of the dataset-level metric (miou: its C x C
                confusion counts; neg_l1: absolute error sum, valid pixels; kitti_fl: outlier pixels,
                valid pixels, end-point error sum)
The result names the file and its sha256 (`predictions`), so a swapped or edited file is refused.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard import bootstrap
from leaderboard.errors import LeaderboardError
from leaderboard.locations import Location, location, write

SUFFIX = ".predictions.npz"


def predictions_path(result_path: Location) -> Location:
    """The predictions file of a result file, beside it (in the same folder or object store prefix)."""
    result_path = location(result_path)
    return result_path.parent / (result_path.name.removesuffix(".json") + SUFFIX)


@dataclass(frozen=True)
class Predictions:
    """One result's per-sample record; `statistics` (S, N, K) float64 is what scores are computed from."""

    metric: str
    ids: np.ndarray
    seeds: np.ndarray
    statistics: np.ndarray
    predicted: np.ndarray | None = None
    targets: np.ndarray | None = None

    @classmethod
    def classified(cls, ids: list[str], seeds: list[int], predicted: np.ndarray, targets: np.ndarray) -> Predictions:
        """An image-level (top1) record from each seed's predicted classes and the targets."""
        predicted, targets = np.asarray(predicted), np.asarray(targets)
        hits = (predicted == targets[None, :]).astype(np.float64)
        statistics = np.stack([hits, np.ones_like(hits)], axis=-1)
        return cls("top1", _ids(ids), np.asarray(seeds, dtype=np.int64), statistics, predicted, targets)

    @classmethod
    def dense(cls, metric: str, ids: list[str], seeds: list[int], statistics: np.ndarray) -> Predictions:
        return cls(metric, _ids(ids), np.asarray(seeds, dtype=np.int64), np.asarray(statistics, dtype=np.float64))

    def to_bytes(self) -> bytes:
        """The compressed file's content; integer statistics (pixel counts) are stored as integers."""
        arrays: dict[str, np.ndarray] = {"metric": np.array(self.metric), "ids": self.ids, "seeds": self.seeds}
        if self.predicted is not None and self.targets is not None:
            arrays.update(predicted=_narrow(self.predicted), targets=_narrow(self.targets))
        else:
            integral = bool(np.all(self.statistics == np.round(self.statistics)))
            arrays["statistics"] = _narrow(self.statistics.astype(np.int64)) if integral else self.statistics
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: Path) -> Predictions:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                metric, ids, seeds = str(arrays["metric"]), arrays["ids"], arrays["seeds"]
                if "predicted" in arrays:
                    return cls.classified(list(ids), list(seeds), arrays["predicted"], arrays["targets"])
                return cls.dense(metric, list(ids), list(seeds), arrays["statistics"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise LeaderboardError(f"{where}: not a predictions file ({error}); rescore the task") from None


def _ids(ids: list[str]) -> np.ndarray:
    return np.array([str(sample) for sample in ids], dtype=np.str_)


def _narrow(values: np.ndarray) -> np.ndarray:
    """The smallest integer type that holds `values`: a 10k-sample, 3-seed file stays small."""
    values = np.asarray(values)
    if not values.size:
        return values.astype(np.int64)
    return values.astype(np.promote_types(np.min_scalar_type(values.min()), np.min_scalar_type(values.max())))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_predictions(result_path: Location, predictions: Predictions) -> dict[str, Any]:
    """Write the predictions file beside `result_path` (replaced whole); returns the result's
    `predictions` record: the file's name, its sha256 and the bootstrap its intervals were drawn with."""
    data = predictions.to_bytes()
    path = write(predictions_path(result_path), data)
    return {
        "file": path.name,
        "sha256": sha256(data),
        "bootstrap": bootstrap_defaults(),
    }


def read_predictions(result_path: Location, result: dict[str, Any]) -> Predictions:
    """The predictions of a result read from `result_path`, refused when missing or not the file the
    result names (its sha256 differs), or when it does not hold the result's seeds and test samples."""
    record = result.get("predictions")
    if not record:
        raise LeaderboardError(f"{result_path}: keeps no per-sample predictions (written before results did)")
    path = location(result_path).parent / record["file"]
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LeaderboardError(
            f"{path}: cannot read the predictions ({error.strerror or error}); rescore the task"
        ) from None
    if sha256(data) != record["sha256"]:
        raise LeaderboardError(
            f"{path}: sha256 differs from the one {location(result_path).name} records; this is not the result's "
            "predictions file, restore it or rescore the task"
        )
    predictions = Predictions.from_bytes(data, path)
    seeds = [entry.get("seed", k) for k, entry in enumerate(result["seeds"])] or [result["seed"]]
    if predictions.metric != result["metric"] or predictions.seeds.tolist() != seeds:
        raise LeaderboardError(
            f"{path}: holds {predictions.metric} for seeds {predictions.seeds.tolist()}, the result "
            f"{result['metric']} for seeds {seeds}; rescore the task"
        )
    if len(predictions.ids) != result["splits"].get("test", len(predictions.ids)):
        raise LeaderboardError(
            f"{path}: holds {len(predictions.ids)} test samples, the result {result['splits']['test']}; rescore the task"
        )
    return predictions


def rescore(result: dict[str, Any], predictions: Predictions) -> list[dict[str, Any]]:
    """Every seed's score and interval recomputed from the predictions with the result's bootstrap, beside
    what the result records: [{seed, score, stored_score, ci95, stored_ci95}]."""
    drawn = result["predictions"].get("bootstrap", {})
    options = {key: drawn.get(key, default) for key, default in bootstrap_defaults().items()}
    entries = result["seeds"] or [{"seed": result["seed"], "score": result["score"], "ci95": result.get("ci95")}]
    out = []
    for entry, stats in zip(entries, predictions.statistics):
        low_high = bootstrap.interval(predictions.metric, stats, **options)
        out.append(
            {
                "seed": entry.get("seed"),
                "score": bootstrap.score(predictions.metric, stats),
                "stored_score": entry["score"],
                "ci95": list(low_high) if low_high else None,
                "stored_ci95": entry.get("ci95"),
            }
        )
    return out


def bootstrap_defaults() -> dict[str, Any]:
    return {"rounds": bootstrap.ROUNDS, "level": bootstrap.LEVEL, "seed": bootstrap.SEED}
