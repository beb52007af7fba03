"""The leaderboard from synthetic result files: values, marks, ranks, the HTML page, safe concurrent
regeneration, malformed files and speed. No torch, no scoring: result files are written directly."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from encoders.study import pretrain_domain
from leaderboard.analyses import NotAvailable, anova_data, data_similarity, factorial_anova, task_correlations
from leaderboard.collect import load_results
from leaderboard.errors import LeaderboardError
from leaderboard.render import build
from leaderboard.table import Leaderboard, build_table
from leaderboard.taxonomy import learn
from tasks import TASKS

BATTERY = [
    {"task": t.id, "category": t.category, "metric": t.metric, "domains": list(t.domains)} for t in TASKS.values()
]
"""The battery listing harness.evaluate writes into every result (tests/test_cli.py checks a real one)."""
TASK_SET = [
    "imagenet",
    "pets",
    "cifar100",
    "clevr_count",
    "thor_egomotion",
    "pets_seg",
    "cityscapes_seg",
    "nyu_depth",
    "kitti_flow",
]


def fp(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def write_result(
    folder: Path,
    name: str,
    task: str,
    seed_scores: list[float],
    method: str | None = None,
    overrides: dict[str, Any] | None = None,
    ci95: list[list[float]] | None = None,
    pretrain_data: str = "ImageNet",
    **extra: Any,
) -> Path:
    """One result file as harness.evaluate writes it; `ci95`: each seed's interval (none by default, as for a
    metric without one); `extra` replaces top-level keys."""
    result = {
        "schema_version": 1,
        "version": "1",
        "ccbench_version": "0.1.0",
        "encoder": {
            "name": name,
            "fingerprint": fp(name),
            "format": "torchvision",
            "source": f"{name}.pth",
            "method": method,
            "pretrain_data": pretrain_data,
            "pretrain_domain": pretrain_domain(pretrain_data),
            "pretrain_images": 1281167,
            "pretrain_epochs": 200,
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        },
        "task": task,
        "task_version": 1,
        "category": TASKS[task].category,
        "metric": TASKS[task].metric,
        "higher_is_better": True,
        "battery": BATTERY,
        "score": sum(seed_scores) / len(seed_scores),
        "val_score": 0.5,
        "epoch": 3,
        "seed": 0,
        "seeds": [
            {"seed": s, "score": v, "val_score": 0.5, "epoch": 3, "val_curve": [0.5], "ci95": ci95[s] if ci95 else None}
            for s, v in enumerate(seed_scores)
        ],
        "ci95": ci95[0] if ci95 else None,
        "splits": {"train": 10, "val": 2, "test": 5},
        "hparams": {},
        "overrides": overrides or {},
        "manifests": {},
        "cache_key": "0" * 64,
        "timings": {"extract": 1.0, "train": 1.0, "evaluate": 1.0},
        "created": "2026-01-01T00:00:00Z",
    }
    result.update(extra)
    suffix = "-custom" if overrides else ""
    path = folder / f"{fp(name)[:16]}__{task}__p1{suffix}.json"
    path.write_text(json.dumps(result))
    return path


def planted(folder: Path, n_encoders: int = 12, missing: tuple[str, str] | None = ("enc05", "pets_seg")) -> None:
    """Encoder i has quality i; every task is linear in it, so the rank is the quality order."""
    write_result(folder, "supervised", "imagenet", [0.70, 0.72], method="supervised")
    for task_index, task in enumerate(TASK_SET):
        if task != "imagenet":
            write_result(folder, "supervised", task, [0.50 + task_index / 100] * 2, method="supervised")
        for i in range(n_encoders):
            name = f"enc{i:02d}"
            if (name, task) == missing:
                continue
            base = 0.2 + 0.04 * i + task_index / 100
            write_result(folder, name, task, [base - 0.01, base + 0.01], method="mocov2" if i % 2 else "swav")


CATEGORY_WEIGHT = {"semantic-image": 1.0, "semantic-pixel": 0.8, "structural-image": 0.5, "structural-pixel": 0.1}
"""How much each category's scores follow encoder quality (the rest is a fixed per-task twist)."""


def full_battery(folder: Path, n_encoders: int = 12) -> None:
    """Every battery task for a supervised encoder and `n_encoders` 200-epoch MoCo v2 / SwAV encoders on four
    pre-training datasets. Encoder i's quality grows with i; a task follows it by its category's weight,
    so semantic image-level tasks correlate with ImageNet and structural pixelwise ones hardly; depth
    scores are negative L1 errors, everything else a fraction; two seeds with 95% intervals each."""
    twist = np.random.default_rng(0).permutation(n_encoders) / (n_encoders - 1)
    datasets = ("ImageNet", "Places", "Kinetics", "Taskonomy")
    for task_index, (task, spec) in enumerate(TASKS.items()):
        weight = CATEGORY_WEIGHT[spec.category]
        for i in range(-1, n_encoders):
            quality = 0.8 if i < 0 else i / (n_encoders - 1)
            mixed = weight * quality + (1 - weight) * (0.5 if i < 0 else np.roll(twist, task_index)[i])
            score = 0.3 + 0.5 * mixed
            score = -(1.1 - score) if spec.metric == "neg_l1" else score
            seeds = [score - 0.004, score + 0.004]
            if i < 0:
                name, method, data = "Supervised ImageNet", "supervised", "ImageNet"
            else:
                method, data = ("MoCo v2" if i % 2 else "SwAV"), datasets[i % len(datasets)]
                name = f"{method} {data} #{i:02d}"
            write_result(
                folder, name, task, seeds, method=method, pretrain_data=data, ci95=[[s - 0.01, s + 0.01] for s in seeds]
            )


def test_task_means_missing_task_marks_and_rank(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    planted(results)
    write_result(results, "tweaked", "pets", [0.99], overrides={"epochs": 3})  # excluded by default
    paths = build(results, tmp_path / "out")
    table = pd.read_csv(paths["csv"])
    assert "tweaked" not in set(table["name"])
    row = table.set_index("name")
    assert row.at["supervised", "imagenet"] == pytest.approx(0.71)
    assert row.at["enc03", "cifar100"] == pytest.approx(0.2 + 0.12 + 0.02)
    assert pd.isna(row.at["enc05", "pets_seg"])
    assert not row.at["enc05", "semantic-pixel_complete"] and not row.at["enc05", "overall_complete"]
    assert row.at["enc04", "semantic-pixel_complete"] and row.at["enc04", "overall_complete"]
    encoders = [n for n in table["name"] if n.startswith("enc")]
    assert encoders == [f"enc{i:02d}" for i in range(11, -1, -1)]
    assert list(table["rank"]) == sorted(table["rank"])
    markdown = paths["markdown"].read_text()
    enc05 = next(line for line in markdown.splitlines() if "| enc05 |" in line)
    assert "*" in enc05 and "—" in enc05
    assert "*" not in next(line for line in markdown.splitlines() if "| enc04 |" in line)
    with_overrides = pd.read_csv(build(results, tmp_path / "all", include_overrides=True)["csv"])
    assert "tweaked" in set(with_overrides["name"])


def test_normalized_category_means_by_hand(tmp_path: Path) -> None:
    """3 encoders, 2 semantic-image tasks: (score - supervised) / sd over encoders, then the mean."""
    scores = {"sup": (0.5, 0.2), "a": (0.7, 0.1), "b": (0.3, 0.6)}
    for name, (pets, dtd) in scores.items():
        write_result(tmp_path, name, "pets", [pets], method="supervised" if name == "sup" else "swav")
        write_result(tmp_path, name, "dtd", [dtd], method="supervised" if name == "sup" else "swav")
    table = pd.read_csv(build(tmp_path, tmp_path / "out")["csv"]).set_index("name")
    sd_pets = pd.Series([0.5, 0.7, 0.3]).std()
    sd_dtd = pd.Series([0.2, 0.1, 0.6]).std()
    expected_a = ((0.7 - 0.5) / sd_pets + (0.1 - 0.2) / sd_dtd) / 2
    expected_b = ((0.3 - 0.5) / sd_pets + (0.6 - 0.2) / sd_dtd) / 2
    assert table.at["a", "semantic-image"] == pytest.approx(expected_a)
    assert table.at["b", "semantic-image"] == pytest.approx(expected_b)
    assert table.at["sup", "semantic-image"] == pytest.approx(0.0)
    assert table.at["b", "overall"] == pytest.approx(expected_b)
    assert expected_a > expected_b > 0 and list(table.index) == ["a", "b", "sup"]


def test_without_supervised_zscores_and_says_so(tmp_path: Path) -> None:
    for name, score in {"a": 0.2, "b": 0.4, "c": 0.9}.items():
        write_result(tmp_path, name, "pets", [score], method="swav")
    paths = build(tmp_path, tmp_path / "out")
    table = pd.read_csv(paths["csv"]).set_index("name")
    column = pd.Series([0.2, 0.4, 0.9])
    assert table.at["c", "semantic-image"] == pytest.approx((0.9 - column.mean()) / column.std())
    text = paths["markdown"].read_text()
    assert "z-scored" in text and "not available: no supervised encoder" in text
    assert "not available: imagenet is not scored" in text
    assert "imagenet_scatter" not in paths


def test_index_html_self_contained(tmp_path: Path) -> None:
    planted(tmp_path)
    paths = build(tmp_path, tmp_path / "out")
    page = paths["html"].read_text()
    for name in ["supervised", *[f"enc{i:02d}" for i in range(12)]]:
        assert f">{name}</td>" in page
    # figures 3, 4, 5, 13, 14 and seed variance; no similarity figure (every encoder is ImageNet-pretrained), no CKA
    assert page.count('<img alt="') == 6 and 'src="data:image/png;base64,iVBORw0KGgo' in page
    assert '<figure id="fig-data_similarity">' in page
    assert "Not drawn: no task has encoders pre-trained on both similar and dissimilar data." in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert paths["category_distribution"].read_bytes()[:4] == b"\x89PNG"
    assert paths["imagenet_scatter"].read_bytes()[:4] == b"\x89PNG"


def test_concurrent_builds_leave_valid_files(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    planted(tmp_path / "results")
    out = tmp_path / "out"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            build(tmp_path / "results", out)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(pd.read_csv(out / "leaderboard.csv")) == 13
    assert (out / "index.html").read_text().rstrip().endswith("</html>")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"schema_version": 2}), "schema_version 2"),
        (json.dumps({"schema_version": 1, "version": "1"}), "missing key(s)"),
    ],
)
def test_malformed_result_names_the_file(tmp_path: Path, content: str, fragment: str) -> None:
    write_result(tmp_path, "a", "pets", [0.5])
    bad = tmp_path / "broken__pets__p1.json"
    bad.write_text(content)
    with pytest.raises(LeaderboardError) as caught:
        load_results(tmp_path)
    message = str(caught.value)
    assert str(bad) in message and fragment in message and "\n" not in message


def test_thousand_results_build_fast(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    tasks = list(TASKS)
    for i in range(50):
        for j, task in enumerate(tasks[:20]):
            write_result(
                results, f"e{i:03d}", task, [0.1 + 0.01 * i + 0.001 * j] * 3, method="supervised" if i == 0 else "swav"
            )
    assert len(list(results.glob("*.json"))) == 1000
    start = time.perf_counter()
    paths = build(results, tmp_path / "out")
    elapsed = time.perf_counter() - start
    print(f"1000 result files: {elapsed:.2f} s")
    assert len(pd.read_csv(paths["csv"])) == 50
    assert elapsed < 30  # generous: a few seconds on a laptop


# ---- the battery and the domains as the result files record them (no copy of the task table in leaderboard/) ----


def old_style(path: Path) -> None:
    """The file as ccbench wrote it before results listed their battery and their encoder's pretrain_domain."""
    result = json.loads(path.read_text())
    del result["battery"], result["encoder"]["pretrain_domain"]
    path.write_text(json.dumps(result))


def test_old_results_rank_with_what_they_carry(tmp_path: Path) -> None:
    """Files without battery listings still rank: tasks alphabetically, categories (alphabetical too) and
    their means from each file's own category, completeness judged against the tasks present; every
    domain is unknown, and item 5 says so."""
    (tmp_path / "new").mkdir()
    planted(tmp_path)
    for path in tmp_path.glob("*.json"):
        old_style(path)
    paths = build(tmp_path, tmp_path / "out")
    table = pd.read_csv(paths["csv"])
    assert [c for c in table.columns if c in TASK_SET] == sorted(TASK_SET)
    assert [c for c in table.columns if c.endswith("_complete")] == [
        "semantic-image_complete",
        "semantic-pixel_complete",
        "structural-image_complete",
        "structural-pixel_complete",
        "overall_complete",
    ]
    row = table.set_index("name")
    assert [n for n in table["name"] if n.startswith("enc")] == [f"enc{i:02d}" for i in range(11, -1, -1)]
    assert not row.at["enc05", "semantic-pixel_complete"] and row.at["enc04", "overall_complete"]
    assert row["pretrain_domain"].isna().all()
    planted(tmp_path / "new")  # the same scores with listings: the same numbers, only their order differs
    new = pd.read_csv(build(tmp_path / "new", tmp_path / "new_out")["csv"]).set_index("name")
    means = ["semantic-image", "structural-image", "semantic-pixel", "structural-pixel", "overall"]
    assert np.allclose(row[means].to_numpy(), new.loc[row.index, means].to_numpy())
    assert list(new.columns[new.columns.isin(TASK_SET)]) == [t for t in TASKS if t in TASK_SET]  # battery order
    text = paths["markdown"].read_text()
    assert "- no result file lists the battery it was scored in" in text and "of the protocol's" not in text
    assert "not available: no result file lists its battery's image domains" in text


def test_old_results_learn_from_newer_ones(tmp_path: Path) -> None:
    """Beside one file with a listing, old files' tasks take its order and domains, and an old encoder its
    domain from any newer file naming the same pretrain_data; one whose data no newer file names stays unknown."""
    write_result(tmp_path, "imagenet-new", "pets", [0.6], method="swav")
    for name, data in (
        ("imagenet-old", "ImageNet"),
        ("kinetics-new", "Kinetics"),
        ("kinetics-old", "Kinetics"),
        ("places-old", "Places"),
    ):
        for score, task in ((0.4, "sun397"), (0.5, "kinetics"), (0.3, "pets")):
            path = write_result(tmp_path, name, task, [score + 0.01 * len(name)], method="swav", pretrain_data=data)
            if name.endswith("-old"):
                old_style(path)
    board = build_table(load_results(tmp_path))
    assert board.tasks == ["pets", "sun397", "kinetics"] and not any("battery" in n for n in board.notes)
    domains = board.encoders.set_index("name")["pretrain_domain"]
    assert domains.drop("places-old").to_dict() == {
        "imagenet-new": "object",
        "imagenet-old": "object",
        "kinetics-new": "video",
        "kinetics-old": "video",
    }
    assert pd.isna(domains["places-old"])
    row = data_similarity(board).set_index("task")
    assert (row.at["kinetics", "similar_n"], row.at["kinetics", "dissimilar_n"]) == (2, 1)  # imagenet-old
    assert (row.at["sun397", "similar_n"], row.at["sun397", "dissimilar_n"]) == (0, 3)
    assert row.at["sun397", "note"] == "no encoder pre-trained on scene data"  # places-old: domain unknown
    assert row.at["pets", "domain"] == "object" and row.at["pets", "similar_n"] == 2


def listing(*entries: tuple[str, str, str, list[str]]) -> list[dict[str, Any]]:
    return [{"task": t, "category": c, "metric": m, "domains": d} for t, c, m, d in entries]


def test_newest_listing_orders_the_battery(tmp_path: Path) -> None:
    """The union of the listings, the newest ccbench_version's (0.10 after 0.9) first, then tasks only an
    older listing names; tasks in no listing follow alphabetically. Its category order orders the category
    columns, and a file's metric the listing contradicts is noted."""
    write_result(
        tmp_path,
        "a",
        "pets",
        [0.5],
        ccbench_version="0.9.0",
        battery=listing(
            ("dtd", "semantic-image", "top1", ["texture"]),
            ("pets", "semantic-image", "top1", ["object"]),
            ("clevr_count", "structural-image", "top1", ["synthetic"]),
        ),
    )
    write_result(
        tmp_path,
        "b",
        "dtd",
        [0.5],
        ccbench_version="0.10.0",
        battery=listing(
            ("clevr_count", "structural-image", "top1", ["synthetic"]),
            ("pets", "semantic-image", "miou", ["texture"]),
            ("dtd", "semantic-image", "top1", ["texture"]),
            ("kitti_flow", "structural-pixel", "kitti_fl", ["driving"]),
        ),
    )
    for task in ("sun397", "clevr_count", "cifar100"):
        for name in ("a", "b"):
            old_style(write_result(tmp_path, name, task, [0.5 if name == "a" else 0.7]))
    rows = load_results(tmp_path)
    taxonomy = learn(rows)
    assert taxonomy.order == ("clevr_count", "pets", "dtd", "kitti_flow")
    assert (taxonomy.domains["pets"], taxonomy.metric["pets"]) == (("texture",), "miou")
    assert taxonomy.protocol_tasks("semantic-image") == ["pets", "dtd"]
    board = build_table(rows)
    assert board.tasks == ["clevr_count", "pets", "dtd", "cifar100", "sun397"]
    assert board.categories == ["structural-image", "semantic-image"]
    assert (
        "pets: result files say metric 'top1', the newest battery listing says 'miou'; the files' metric is used"
    ) in board.notes
    assert any(n.startswith("cifar100, sun397: in no result file's battery") for n in board.notes)
    assert (
        "semantic-image: mean over 0 of the protocol's 2 tasks, plus cifar100, sun397 (no normalized scores "
        "for pets, dtd)"
    ) in board.notes  # pets and dtd have one encoder each


# ---- docs/PROTOCOL.md section 6 items 2 (correlation matrices) and 6 (factorial ANOVA), on in-memory score tables ----


def board_of(scores: pd.DataFrame, encoders: pd.DataFrame) -> Leaderboard:
    """A Leaderboard with only what the analyses read: scores (encoder x task) and encoder metadata."""
    return Leaderboard(
        table=pd.DataFrame(),
        tasks=list(scores.columns),
        categories=[],
        task_category={},
        scores=scores,
        normalized=None,
        encoders=encoders,
        supervised=None,
    )  # type: ignore[arg-type]


# (pretrain_data, pretrain_images): dataset size crossed with balance, as in the paper's subsets
SUBSETS = [
    ("ImageNet-1/2", 640583),
    ("ImageNet-1/2-Lin", 640583),
    ("ImageNet-1/4", 320291),
    ("ImageNet-1/4-Log", 320291),
]


def planted_anova(replicates: int, seed: int = 0) -> Leaderboard:
    """Crossed design: method x subset (balance x size) x epochs, `replicates` encoders per configuration,
    3 tasks. Planted: MoCo v2 +0.05 over SwAV, unbalanced -0.04, task offsets; epochs and size no effect.
    Plus one Places encoder that the ANOVA must leave out (its score would wreck the planted effects)."""
    rng = np.random.default_rng(seed)
    tasks = {"pets": 0.6, "cifar100": 0.5, "dtd": 0.4}
    meta, scores = [], {}
    for method in ("mocov2", "swav"):
        for data, images in SUBSETS:
            for epochs in (100, 200):
                for r in range(replicates):
                    name = f"{method}-{data}-{epochs}-{r}"
                    meta.append(
                        {
                            "name": name,
                            "fingerprint": fp(name),
                            "method": method,
                            "pretrain_data": data,
                            "pretrain_images": images,
                            "pretrain_epochs": epochs,
                        }
                    )
                    effect = (0.05 if method == "mocov2" else 0.0) - (0.04 if data.endswith(("Lin", "Log")) else 0.0)
                    scores[fp(name)] = {t: base + effect + rng.normal(0, 0.01) for t, base in tasks.items()}
    meta.append(
        {
            "name": "places",
            "fingerprint": fp("places"),
            "method": "swav",
            "pretrain_data": "Places205",
            "pretrain_images": 2448873,
            "pretrain_epochs": 200,
        }
    )
    scores[fp("places")] = {t: 5.0 for t in tasks}
    encoders = pd.DataFrame(meta).set_index("fingerprint", drop=False)
    return board_of(pd.DataFrame.from_dict(scores, orient="index").loc[encoders.index], encoders)


@pytest.mark.parametrize("replicates, test", [(2, "pingouin"), (1, "OLS main effects")])
def test_anova_recovers_planted_algorithm_and_balance(replicates: int, test: str) -> None:
    result = factorial_anova(planted_anova(replicates))
    assert isinstance(result, pd.DataFrame), result
    row = result.set_index("factor")
    assert list(row.index) == ["task", "method", "balance", "pretrain_images", "pretrain_epochs"]
    assert all(test in t for t in row["test"])
    assert row.at["method", "p"] < 0.01 and row.at["balance", "p"] < 0.01 and row.at["task", "p"] < 0.01
    assert row.at["pretrain_epochs", "p"] > 0.05 and row.at["pretrain_images", "p"] > 0.05


def test_pingouin_anova_matches_statsmodels() -> None:
    """The full-factorial pingouin table (type II) equals statsmodels' OLS + anova_lm(typ=2) to 1e-6,
    fitted independently here with treatment coding (type II sums of squares do not depend on it)."""
    import pingouin
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    data = anova_data(planted_anova(2))
    assert set(data["balance"]) == {"balanced", "unbalanced"} and "Places205" not in set(data["fingerprint"])
    factors = ["task", "method", "balance", "pretrain_images", "pretrain_epochs"]
    ours = pingouin.anova(data=data, dv="score", between=factors, ss_type=2).set_index("Source")
    fit = ols("score ~ " + " * ".join(f"C({f})" for f in factors), data=data).fit()
    theirs = anova_lm(fit, typ=2)
    theirs.index = [
        " * ".join(t[2:-1] for t in name.split(":")) if name != "Residual" else name for name in theirs.index
    ]
    effects = [s for s in theirs.index if s != "Residual"]
    assert len(effects) == 31 and set(effects) <= set(ours.index)
    for source in effects:
        assert ours.at[source, "SS"] == pytest.approx(theirs.at[source, "sum_sq"], abs=1e-6)
        assert ours.at[source, "F"] == pytest.approx(theirs.at[source, "F"], rel=1e-6, abs=1e-6)
        assert ours.at[source, "p_unc"] == pytest.approx(theirs.at[source, "PR(>F)"], abs=1e-6)
    reported = factorial_anova(planted_anova(2)).set_index("factor")
    for factor in factors:
        assert reported.at[factor, "F"] == pytest.approx(theirs.at[factor, "F"], rel=1e-6)
        assert reported.at[factor, "p"] == pytest.approx(theirs.at[factor, "PR(>F)"], abs=1e-6)
    main = factorial_anova(planted_anova(1)).set_index("factor")  # the OLS fallback, main effects only
    data1 = anova_data(planted_anova(1))
    theirs1 = anova_lm(ols("score ~ " + " + ".join(f"C({f})" for f in factors), data=data1).fit(), typ=2)
    for factor in factors:
        assert main.at[factor, "F"] == pytest.approx(theirs1.at[f"C({factor})", "F"], rel=1e-6)
        assert main.at[factor, "p"] == pytest.approx(theirs1.at[f"C({factor})", "PR(>F)"], abs=1e-6)


def test_anova_not_available_without_both_balances() -> None:
    board = planted_anova(1)
    balanced = board.encoders[~board.encoders["pretrain_data"].str.endswith(("Lin", "Log"))]
    result = factorial_anova(board_of(board.scores.loc[balanced.index], balanced))
    assert isinstance(result, NotAvailable) and "balanced and unbalanced" in result.reason


def test_task_correlation_matrices_planted_groups() -> None:
    """Across 15 encoders: pets and cifar100 track imagenet, clevr_count and nyu_depth run against it,
    kitti_flow is independent noise."""
    rng = np.random.default_rng(1)
    quality = rng.uniform(0, 1, 15)
    scores = pd.DataFrame(
        {
            "imagenet": quality,
            "pets": 0.5 * quality + rng.normal(0, 0.02, 15),
            "cifar100": 2 * quality + 1 + rng.normal(0, 0.05, 15),
            "clevr_count": -quality + rng.normal(0, 0.03, 15),
            "nyu_depth": 0.3 - 0.4 * quality + rng.normal(0, 0.01, 15),
            "kitti_flow": rng.normal(0, 1, 15),
        },
        index=[fp(f"e{i}") for i in range(15)],
    )
    encoders = pd.DataFrame({"name": [f"e{i}" for i in range(15)], "method": "swav"}, index=scores.index)
    board = board_of(scores, encoders)
    for method in ("pearson", "spearman"):
        matrix = task_correlations(board, method)
        assert isinstance(matrix, pd.DataFrame)
        assert list(matrix["task"]) == list(scores.columns) == list(matrix.columns[1:])
        matrix = matrix.set_index("task")
        assert np.allclose(matrix.to_numpy(), scores.corr(method=method).to_numpy())
        assert np.allclose(np.diag(matrix.to_numpy()), 1.0)
        for task in ("pets", "cifar100"):
            assert matrix.at["imagenet", task] > 0.9 and matrix.at[task, "imagenet"] > 0.9
        for task in ("clevr_count", "nyu_depth"):
            assert matrix.at["imagenet", task] < -0.9
        assert matrix.at["pets", "clevr_count"] < -0.9 and abs(matrix.at["imagenet", "kitti_flow"]) < 0.9
    few = board_of(scores.iloc[:2], encoders.iloc[:2])
    assert isinstance(task_correlations(few, "pearson"), NotAvailable)


def test_new_analyses_land_in_the_outputs(tmp_path: Path) -> None:
    planted(tmp_path)
    paths = build(tmp_path, tmp_path / "out")
    text = paths["markdown"].read_text()
    analyses, figures = text.split("\n## Figures\n")
    titles = [line[4:] for line in analyses.splitlines() if line.startswith("### ")]
    assert [t.split(".")[0] for t in titles] == sorted([t.split(".")[0] for t in titles], key=int)
    assert "2. task-by-task Pearson correlation" in titles and "2. task-by-task Spearman correlation" in titles
    assert "| task | imagenet | pets |" in text
    assert "not available: needs both balanced and unbalanced" in text  # every encoder is full ImageNet
    page = paths["html"].read_text()
    assert "task-by-task Spearman correlation" in page and "balanced vs unbalanced ANOVA" in page
    shown = [line[4:].split(".")[0] for line in figures.splitlines() if line.startswith("### Figure")]
    assert shown == [f"Figure {n} (paper)" for n in (3, 4, 5, 6, 7, 13, 14)]
    assert "![pearson_matrix](pearson_matrix.png)" in figures and "Reading: Tasks of one category" in figures
    assert "| imagenet (↑ top-1 %) | imagenet_v2" not in text and "| imagenet (↑ top-1 %) | pets (↑ top-1 %) |" in text


def test_an_output_folder_holding_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    """The folder is replaced whole, so a file no build wrote would be lost: refuse instead."""
    (tmp_path / "results").mkdir()
    write_result(tmp_path / "results", "a", "pets", [0.5])
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(LeaderboardError, match=f"{out}: holds notes.txt, which no leaderboard build wrote"):
        build(tmp_path / "results", out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_symlinked_output_folder_keeps_its_link_and_permissions(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    write_result(tmp_path / "results", "a", "pets", [0.5])
    served, link = tmp_path / "served", tmp_path / "out"
    served.mkdir()
    served.chmod(0o750)
    link.symlink_to(served)
    for _ in range(2):
        paths = build(tmp_path / "results", link)
    assert link.is_symlink() and (served / "index.html").is_file() and paths["html"] == link / "index.html"
    assert served.stat().st_mode & 0o777 == 0o750


# ---- the page's figures: labels, scales and readings computed from the data ----


def figures_of(folder: Path) -> dict[str, Any]:
    from leaderboard.analyses import run_all
    from leaderboard.figures import all_figures

    board = build_table(load_results(folder))
    return {plot.stem: plot for plot in all_figures(board, run_all(board, []), [])}


def texts(figure: Any) -> set[str]:
    """Every text drawn in a matplotlib figure (titles, labels, ticks, annotations, legends)."""
    from matplotlib.text import Text

    return {t.get_text() for t in figure.findobj(Text) if t.get_text()}


def test_figures_are_labelled_and_read_from_the_data(tmp_path: Path) -> None:
    full_battery(tmp_path)
    plots = figures_of(tmp_path)
    names = {str(n) for n in build_table(load_results(tmp_path)).encoders["name"]}
    assert [p.number for p in plots.values()] == ["3", "4", "5", "6", "7", "13", "14", ""]
    scatter = plots["imagenet_scatter"]
    drawn = texts(scatter.figure)
    assert names <= drawn, "every encoder is named on its points"
    assert "ImageNet top-1 %" in drawn and "mIoU %" in drawn and "−L1 (depth unit) (higher is better)" in drawn
    assert {"semantic-image", "structural-pixel", "category"} <= drawn, "a legend of the categories"
    # semantic image-level tasks follow quality exactly, structural pixelwise ones hardly (CATEGORY_WEIGHT)
    assert scatter.reading.startswith("ImageNet top-1 correlates (Spearman) with semantic-image tasks at ρ=1.00")
    structural = float(scatter.reading.split("structural-pixel tasks at ρ=")[1][:5])
    assert abs(structural) < 0.5 and scatter.note == ""
    assert names <= texts(plots["category_distribution"].figure)
    assert "normalized score (0 = supervised reference)" in texts(plots["category_distribution"].figure)
    for stem, symbol in (("pearson_matrix", "r"), ("spearman_matrix", "ρ")):
        matrix = plots[stem].figure
        image = matrix.axes[0].images[0]
        assert image.get_cmap().name == "RdBu_r" and image.norm.vcenter == 0
        assert (image.norm.vmin, image.norm.vmax) == (-1, 1), "a diverging scale centred at 0"
        assert {"imagenet", "kitti_flow"} <= texts(matrix) and any(
            t.endswith(f"{symbol} across encoders") for t in texts(matrix)
        )
        within = float(plots[stem].reading.split(f"correlate at {symbol}=")[1][:4])
        across = float(plots[stem].reading.split(f"different categories at {symbol}=")[1][:4])
        assert within > across, plots[stem].reading
    moco = plots["mocov2_vs_swav"]
    assert "MoCo v2 − SwAV (normalized score)" in texts(moco.figure) and {"MoCo v2 ahead", "SwAV ahead"} <= texts(
        moco.figure
    )
    assert moco.reading.startswith("MoCo v2 is ahead on ") and "of 21 tasks" in moco.reading
    similar = plots["data_similarity"]
    assert similar.reading.startswith("Pre-training on the task's own domain scores higher on ")
    assert isinstance(plots["cka"].png, NotAvailable) and "ccbench cka" in plots["cka"].png.reason
    assert plots["seed_variance"].reading.startswith("Seeds differ by ")


def test_too_few_encoders_say_so(tmp_path: Path) -> None:
    for i, quality in enumerate((0.3, 0.5, 0.6, 0.4)):
        for j, task in enumerate(("imagenet", "pets", "clevr_count")):
            write_result(tmp_path, f"e{i}", task, [quality + 0.02 * j * (i % 2)], method="swav")
    plots = figures_of(tmp_path)
    assert plots["imagenet_scatter"].note.startswith(
        "Only 4 encoders scored ImageNet and another task: with fewer than 5"
    )
    assert plots["category_distribution"].note.startswith("Only 4 encoders have normalized scores")
    assert plots["pearson_matrix"].note.startswith("Only 4 encoders scored these tasks")
    assert isinstance(plots["mocov2_vs_swav"].png, NotAvailable)  # no MoCo v2 encoder
    (tmp_path / "pair").mkdir()
    for i in range(2):
        write_result(tmp_path / "pair", f"p{i}", "imagenet", [0.4 + 0.1 * i], method="swav")
        write_result(tmp_path / "pair", f"p{i}", "pets", [0.4 + 0.1 * i], method="swav")
    pair = figures_of(tmp_path / "pair")
    assert str(pair["imagenet_scatter"].png) == "not available: no other task shares 3 or more encoders with imagenet"
    paths = build(tmp_path / "pair", tmp_path / "out")
    assert "Not drawn: no other task shares 3 or more encoders with imagenet." in paths["html"].read_text()


def test_headers_name_the_metric_and_its_direction(tmp_path: Path) -> None:
    full_battery(tmp_path, n_encoders=3)
    page = build(tmp_path, tmp_path / "out")["html"].read_text()
    header = page.split('data-col="nyu_depth"')[1].split("</th>")[0]
    assert "↓ L1 (depth unit)" in header and "lower is better" in header and "metres for NYU" in header
    assert "↑ 1−Fl-all %" in page.split('data-col="kitti_flow"')[1].split("</th>")[0]
    assert '<abbr title="top-1 accuracy: percent of test samples' in page.split('data-col="pets"')[1]
    board = build_table(load_results(tmp_path))
    best = board.encoders.at[board.normalized.values["nyu_depth"].idxmax(), "name"]
    table = page.split('id="structural-pixel"')[1].split("</table>")[0]
    after_name = re.findall(r"<td[^>]*>", table.split(f">{best}</td>")[1].split("</tr>")[0])
    columns = [t for t in board.tasks if board.task_category[t] == "structural-pixel"]
    depth_cell = after_name[1 + columns.index("nyu_depth")]  # after the category mean
    assert 'data-shade="1.0000"' in depth_cell, "the smallest depth error is the darkest cell"
    assert float(depth_cell.split('data-v="')[1].split('"')[0]) > 0, "the error itself, not its negation"


def test_each_protocol_ranks_apart_and_says_which_it_shows(tmp_path: Path) -> None:
    """virb results (docs/PROTOCOL.md section 8) never share a table with ccbench ones: the default board
    leaves them out and says so, `protocol="virb"` ranks only them, and files without the key are ccbench."""
    results = tmp_path / "results"
    results.mkdir()
    planted(results)
    for name, score in (("enc00", 0.9), ("enc01", 0.1)):
        path = write_result(results, name, "pets_seg", [score], protocol="virb")
        path.rename(path.with_name(path.name.replace("__p1.json", "__p1-virb.json")))
    default = pd.read_csv(build(results, tmp_path / "ccbench")["csv"]).set_index("name")
    assert default.at["enc00", "pets_seg"] != pytest.approx(0.9) and len(default) > 2
    board = build_table(load_results(results))
    assert board.notes[0] == "protocol ccbench: every score below was made under it"
    assert "2 result file(s) of protocol virb left out" in board.notes[1]
    virb = pd.read_csv(build(results, tmp_path / "virb", protocol="virb")["csv"]).set_index("name")
    assert set(virb.index) == {"enc00", "enc01"} and virb.at["enc00", "pets_seg"] == pytest.approx(0.9)
    assert "protocol virb" in (tmp_path / "virb" / "LEADERBOARD.md").read_text()
    with pytest.raises(LeaderboardError, match="no result files of protocol paper"):
        build_table(load_results(results), protocol="paper")
