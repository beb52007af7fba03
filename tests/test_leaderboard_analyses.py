"""docs/PROTOCOL.md section 6 items 5 (pre-training data similarity), 7 (linear CKA) and 8 (seed variance,
separability) on synthetic result and CKA files with planted structure: the analyses must recover it and
say what they cannot answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from leaderboard.analyses import NotAvailable, data_similarity, seed_variance
from leaderboard.collect import load_results
from leaderboard.errors import LeaderboardError
from leaderboard.render import build
from leaderboard.table import build_table
from leaderboard.uncertainty import SEPARABLE, TIE, UNKNOWN, overall_vs_next
from tests.test_leaderboard import fp, write_result

# pretrain_data -> the tasks it is similar to, among those planted below
DATA = {"ImageNet": "pets", "Places": "sun397", "Kinetics": "kinetics", "Taskonomy": "nyu_depth"}
SIMILAR_TASKS = ["pets", "sun397", "kinetics", "nyu_depth", "kitti_flow"]
ADVANTAGE = 0.1


def planted_similarity(folder: Path) -> None:
    """Two encoders per dataset (offsets ±0.01, so group means are exact); a task's score is 0.5, plus
    ADVANTAGE when the data is similar. Combination and a random init score 0.9 on every task: if either
    entered a group, the group means would move. No encoder is pre-trained on driving data (kitti_flow)."""
    write_result(folder, "supervised", "pets", [0.6], method="supervised")
    for data, similar in DATA.items():
        for offset in (-0.01, 0.01):
            for task in SIMILAR_TASKS:
                score = 0.5 + offset + (ADVANTAGE if task == similar else 0.0)
                write_result(folder, f"{data}{offset:+}", task, [score], method="mocov2", pretrain_data=data)
    for name, data in (("combination", "Combination"), ("random", "none")):
        for task in SIMILAR_TASKS:
            write_result(folder, name, task, [0.9], method="mocov2", pretrain_data=data)


def test_similar_data_advantage_recovered(tmp_path: Path) -> None:
    planted_similarity(tmp_path)
    board = build_table(load_results(tmp_path))
    result = data_similarity(board)
    assert isinstance(result, pd.DataFrame), result
    row = result.set_index("task")
    for task in ("pets", "sun397", "kinetics", "nyu_depth"):
        similar_n = 3 if task == "pets" else 2  # the supervised encoder (0.6 on pets) is ImageNet-pretrained too
        assert (row.at[task, "similar_n"], row.at[task, "dissimilar_n"]) == (similar_n, 6)
        spread = board.scores[task].std(ddof=1)  # the normalization's denominator
        assert row.at[task, "difference"] == pytest.approx(ADVANTAGE / spread) and row.at[task, "note"] == ""
    assert row.at["kitti_flow", "similar_n"] == 0 and pd.isna(row.at["kitti_flow", "difference"])
    assert row.at["kitti_flow", "note"] == "no encoder pre-trained on driving data"
    paths = build(tmp_path, tmp_path / "out")
    text = paths["markdown"].read_text()
    assert "### 5. similar vs dissimilar pre-training data (normalized)" in text
    assert "| kitti_flow | driving | 0 | — | 8 |" in text and "no encoder pre-trained on driving data" in text
    assert paths["data_similarity"].read_bytes()[:4] == b"\x89PNG"
    assert '<figure id="fig-data_similarity"><figcaption><b>Figure 6 (paper).' in paths["html"].read_text()
    assert "Reading: Pre-training on the task's own domain scores higher on 4 of 4 tasks" in text


def test_similarity_says_what_is_missing(tmp_path: Path) -> None:
    for name, score in {"a": 0.2, "b": 0.4, "c": 0.9}.items():
        write_result(tmp_path, name, "sun397", [score], method="swav")  # ImageNet only: nothing like scenes
    result = data_similarity(build_table(load_results(tmp_path)))
    assert isinstance(result, pd.DataFrame)
    assert result.iloc[0]["note"] == "no encoder pre-trained on scene data" and result.iloc[0]["dissimilar_n"] == 3
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for name, score in {"a": 0.2, "b": 0.4}.items():
        write_result(unknown, name, "pets", [score], method="swav", pretrain_data="none")
    result = data_similarity(build_table(load_results(unknown)))
    assert isinstance(result, NotAvailable) and "known domain" in result.reason
    paths = build(unknown, tmp_path / "out")
    assert (
        "data_similarity" not in paths and "not available: no encoder's pretrain_data" in paths["markdown"].read_text()
    )


def planted_intervals(folder: Path) -> None:
    """On pets: a and b overlap, b and c are far apart, d has no interval; e has two seeds."""
    write_result(folder, "a", "pets", [0.72], method="swav", ci95=[[0.70, 0.74]])
    write_result(folder, "b", "pets", [0.71], method="swav", ci95=[[0.69, 0.73]])
    write_result(folder, "c", "pets", [0.50], method="swav", ci95=[[0.48, 0.52]])
    write_result(folder, "d", "pets", [0.40], method="swav")
    write_result(folder, "e", "pets", [0.60, 0.62], method="swav", ci95=[[0.58, 0.62], [0.60, 0.64]])


def test_non_separable_neighbours_marked(tmp_path: Path) -> None:
    planted_intervals(tmp_path)
    paths = build(tmp_path, tmp_path / "out")
    table = pd.read_csv(paths["csv"]).set_index("name")
    assert list(table.index) == ["a", "b", "e", "c", "d"]
    assert table.at["a", "pets_vs_next"] == TIE and table.at["a", "overall_vs_next"] == TIE
    assert table.at["b", "pets_vs_next"] == SEPARABLE and table.at["e", "pets_vs_next"] == SEPARABLE
    assert table.at["c", "pets_vs_next"] == UNKNOWN and table.at["c", "overall_vs_next"] == UNKNOWN
    assert pd.isna(table.at["d", "pets_vs_next"]) and pd.isna(table.at["d", "pets_ci95_lo"])
    assert table.at["e", "pets_ci95_lo"] == pytest.approx(0.59) and table.at["e", "pets_ci95_hi"] == pytest.approx(0.63)
    assert table.at["e", "pets_std"] == pytest.approx(0.01) and pd.isna(table.at["a", "pets_std"])
    lines = paths["markdown"].read_text().splitlines()
    assert "72.0 ≈" in next(line for line in lines if "| a |" in line)  # top-1 in percent
    assert "61.0 ±1.0 |" in next(line for line in lines if "| e |" in line)
    assert "50.0 ? |" in next(line for line in lines if "| c |" in line)
    page = paths["html"].read_text()
    assert ">72.0 ≈</td>" in page and ">61.0 ±1.0</td>" in page and "not separable" in page
    assert paths["seed_variance"].read_bytes()[:4] == b"\x89PNG"


def test_seed_variance_counts_pairs(tmp_path: Path) -> None:
    planted_intervals(tmp_path)
    result = seed_variance(build_table(load_results(tmp_path)))
    assert isinstance(result, pd.DataFrame)
    row = result.set_index("task").loc["pets"]
    assert (row["encoders"], row["multi_seed"], row["with_interval"]) == (5, 1, 4)
    assert (row["adjacent_pairs"], row["not_separable"], row["unknown"]) == (4, 1, 1)
    assert row["relative_std_%"] == pytest.approx(100 * 0.01 / 0.61)
    assert row["ci95_width"] == pytest.approx(0.04)


def test_seed_variance_not_available_without_seeds_or_intervals(tmp_path: Path) -> None:
    for name, score in {"a": 0.2, "b": 0.4}.items():
        write_result(tmp_path, name, "pets", [score], method="swav")
    board = build_table(load_results(tmp_path))
    assert isinstance(seed_variance(board), NotAvailable)
    assert set(board.table["pets_vs_next"].dropna()) == {UNKNOWN}  # no interval: never separable


def test_overall_separable_only_on_net_wins() -> None:
    """a is separably better on t1 and worse on t2 than b: not separable overall; b beats c on t1 only."""
    names = [fp(n) for n in "abc"]
    scores = pd.DataFrame({"t1": [0.9, 0.5, 0.1], "t2": [0.1, 0.5, 0.5]}, index=names)
    low, high = scores - 0.05, scores + 0.05
    result = overall_vs_next(names, scores, low, high)
    assert list(result[:2]) == [TIE, SEPARABLE] and pd.isna(result.iloc[2])


def test_malformed_interval_names_the_file(tmp_path: Path) -> None:
    path = write_result(tmp_path, "a", "pets", [0.5])
    result = json.loads(path.read_text())
    result["seeds"][0]["ci95"] = [0.6, 0.4]
    path.write_text(json.dumps(result))
    with pytest.raises(LeaderboardError, match=r"seeds\[0\].ci95 .* low above high"):
        load_results(tmp_path)


BLOCKS = ["stem", "layer1", "pooled"]
CKA_MATRIX = [[1.0, 0.61234, 0.2], [0.5, 0.98765, None], [0.1, 0.3, 0.875]]  # None: undefined (constant block)


def write_cka(results: Path, a: str = "alpha", b: str = "beta", matrix: list | None = None) -> Path:
    """A record with every key harness/cka.py cmd_cka writes, under the name it gives the file."""
    record = {
        "encoders": [{"name": name, "fingerprint": fp(name), "source": f"{name}.pth"} for name in (a, b)],
        "blocks": BLOCKS,
        "matrix": CKA_MATRIX if matrix is None else matrix,
        "spaces": [["gram", "gram", "feature"]] * 3,
        "estimator": "linear CKA, biased HSIC (not debiased)",
        "task": "imagenet",
        "split": "test",
        "n": 500,
        "subset_seed": 0,
        "images": "0" * 64,
        "image_size": 112,
        "timings": {"extract": 1.0, "cka": 1.0},
        "created": "2026-01-01T00:00:00Z",
    }
    folder = results / "cka"
    folder.mkdir(exist_ok=True)
    path = folder / f"{fp(a)[:12]}_{fp(b)[:12]}_imagenet_test_n500_112px.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def test_cka_matrix_lands_in_every_output(tmp_path: Path) -> None:
    write_result(tmp_path, "a", "pets", [0.5])
    json_path = write_cka(tmp_path)
    paths = build(tmp_path, tmp_path / "out")
    title = (
        f"7. linear CKA: alpha ({fp('alpha')[:12]}, rows) vs beta ({fp('beta')[:12]}, columns), "
        "imagenet test, n=500, 112 px"
    )
    text = paths["markdown"].read_text()
    assert f"### {title}" in text and "no CKA runs yet" not in text
    assert "| alpha \\ beta | stem | layer1 | pooled |" in text
    assert "| stem | 1.000 | 0.612 | 0.200 |" in text and "| layer1 | 0.500 | 0.988 | — |" in text
    stem = f"cka_{json_path.stem}"
    assert f"![{stem}]({stem}.png)" in text
    assert paths[stem].read_bytes()[:4] == b"\x89PNG"
    page = paths["html"].read_text()
    assert f"<h3>{title}</h3>" in page and '<td data-v="0.988">0.988</td>' in page
    figure = page.split(f'<figure id="fig-{stem}">')[1].split("</figure>")[0]
    assert "Figure 7 (paper)" in figure and "Reading: Matching blocks of alpha and beta: CKA 1.00 at stem" in figure
    assert "Only 500 images: the protocol uses 10,000." in figure and 'src="data:image/png;base64,iVBORw0KGgo' in figure
    table = pd.read_csv(paths["cka_csv"])
    assert list(table.columns) == [
        "encoder_a",
        "encoder_b",
        "block_a",
        "block_b",
        "cka",
        "n",
        "image_size",
        "task",
        "split",
        "file",
    ]
    assert len(table) == 9 and set(table["file"]) == {json_path.name}
    assert set(table[["encoder_a", "encoder_b", "n", "image_size", "task", "split"]].itertuples(index=False)) == {
        ("alpha", "beta", 500, 112, "imagenet", "test")
    }
    cells = table.set_index(["block_a", "block_b"])["cka"]
    for i, block_a in enumerate(BLOCKS):
        for j, block_b in enumerate(BLOCKS):
            expected = CKA_MATRIX[i][j]
            assert pd.isna(cells[block_a, block_b]) if expected is None else cells[block_a, block_b] == expected
    json_path.unlink()  # a rebuild without the file drops its heatmap
    paths = build(tmp_path, tmp_path / "out")
    assert stem not in paths and not (tmp_path / "out" / f"{stem}.png").exists()
    assert pd.read_csv(paths["cka_csv"]).empty


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda text: text[:-5], "not valid JSON"),
        (lambda text: text.replace('"n": 500', '"n": "500"'), "n '500' is not a positive integer"),
        (lambda text: json.dumps({**json.loads(text), "matrix": [[1.0, 0.5]]}), "matrix is not 3 x 3"),
        (
            lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "blocks"}),
            "missing key(s) blocks",
        ),
    ],
)
def test_malformed_cka_names_the_file(tmp_path: Path, damage: Callable[[str], str], fragment: str) -> None:
    write_result(tmp_path, "a", "pets", [0.5])
    path = write_cka(tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(LeaderboardError) as error:
        build(tmp_path, tmp_path / "out")
    message = str(error.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message


def test_no_cka_folder_says_how_to_run_it(tmp_path: Path) -> None:
    write_result(tmp_path, "a", "pets", [0.5])
    lines: list[str] = []
    paths = build(tmp_path, tmp_path / "out", echo=lines.append)
    line = "not available: no CKA runs yet: run `ccbench cka --encoders A B`"
    assert f"### 7. linear CKA\n\n{line}\n" in paths["markdown"].read_text()
    assert "<h3>7. linear CKA</h3><p>not available: no CKA runs yet: run `ccbench cka --encoders A B`</p>" in (
        paths["html"].read_text()
    )
    assert f"7. linear CKA: {line}" in lines and pd.read_csv(paths["cka_csv"]).empty
