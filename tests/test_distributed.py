"""Runs under torchrun: ranks split units of work by index, extraction over 2 gloo ranks writes
stores identical chunk for chunk to one process's (also after a rank is killed and the run
resumed), and `ccbench run` spreads tasks over ranks with the serial run's results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.distributed import SOLO, World, from_env, units_of_work
from tasks import TASKS, get_task
from tests.distributed import ranks, serial, store_bytes
from tests.writers.dtd import write_dtd
from tests.writers.eurosat import write_eurosat


def test_ranks_split_items_evenly_and_disjointly() -> None:
    worlds = [World(rank, 3) for rank in range(3)]
    shares = [world.share(list(range(10))) for world in worlds]
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert [World(0, 3).leader, World(1, 3).leader] == [True, False]
    assert SOLO.share([4, 5]) == [4, 5]


def test_world_comes_from_torchrun_s_variables() -> None:
    assert from_env({}) == SOLO
    assert from_env({"WORLD_SIZE": "1", "RANK": "0"}) == SOLO
    assert from_env({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"}) == World(2, 4, 0)
    assert World(3, 4, 1).device("cuda") == "cuda:1", "one GPU per rank"
    assert World(3, 4, 1).device("cpu") == "cpu" and World(3, 4, 1).device("cuda:0") == "cuda:0"
    assert SOLO.device("cuda") == "cuda"


def test_a_task_scored_with_another_s_head_shares_its_unit_of_work() -> None:
    tasks = [get_task(t) for t in ("imagenet_v2", "cifar100", "imagenet", "eurosat")]
    units = [[t.id for t in unit] for unit in units_of_work(tasks)]
    assert units == [["imagenet", "imagenet_v2"], ["cifar100"], ["eurosat"]]
    assert [[t.id for t in u] for u in units_of_work([get_task("imagenet_v2")])] == [["imagenet_v2"]]


def test_the_lockstep_group_is_one_unit_of_work_and_dense_tasks_their_own() -> None:
    dense = next(t for t in TASKS.values() if t.dense)
    tasks = [get_task("imagenet_v2"), dense, get_task("cifar100"), get_task("imagenet")]
    units = [[t.id for t in unit] for unit in units_of_work(tasks, lockstep=True)]
    assert units == [["imagenet", "imagenet_v2", "cifar100"], [dense.id]]
    assert units_of_work([dense], lockstep=True) == [[dense]]


def extract_args(data: Path, cache: Path | str) -> list[str]:
    return [
        "extract",
        "--encoder",
        "random:0",
        "--task",
        "cifar100",
        "--data-root",
        str(data),
        "--cache",
        str(cache),
        "--image-size",
        "64",
        "--workers",
        "0",
        "--quiet",
        "--device",
        "cpu",
    ]


@pytest.fixture(scope="module")
def reference(cifar_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The stores of one plain process (600 train images: 3 units, 200 test: 1)."""
    cache = tmp_path_factory.mktemp("serial") / "cache"
    done = serial(extract_args(cifar_root, cache))
    assert done.returncode == 0, done.stderr
    return store_bytes(cache)


@pytest.mark.e2e
def test_two_gloo_ranks_write_the_stores_of_one_process(
    cifar_root: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    done = ranks(2, extract_args(cifar_root, tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert sum(name.endswith("already cached") for name in done.stdout.splitlines()) == 0
    assert len(done.stdout.splitlines()) == 2, "rank 0 alone reports each store"
    written = store_bytes(tmp_path / "cache")
    assert sorted(written) == sorted(reference)
    assert [name for name in reference if written[name] != reference[name]] == []
    assert sum("/features/c/" in name for name in reference) == 4, "3 train units and 1 test unit"


@pytest.mark.e2e
def test_a_killed_rank_leaves_stores_the_next_run_completes(
    cifar_root: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    killed = ranks(
        2, extract_args(cifar_root, cache), module="tests.dist_killed", extra={"CCBENCH_TEST_KILL_RANK": "1"}
    )
    assert killed.returncode != 0
    (train,) = [
        p
        for p in (cache / "features").glob("*/*.zarr")
        if json.loads((p / "zarr.json").read_bytes())["attributes"]["image_set"].endswith("train")
    ]
    attrs = json.loads((train / "zarr.json").read_bytes())["attributes"]
    assert attrs["complete"] is False, "no rank marks a store complete while another's units are missing"
    assert not (train / "done" / "c" / "1").exists(), "rank 1's unit was never flagged"
    resumed = ranks(2, extract_args(cifar_root, cache))
    assert resumed.returncode == 0, resumed.stderr
    written = store_bytes(cache)
    assert sorted(written) == sorted(reference)
    assert [name for name in reference if written[name] != reference[name]] == []


def run_args(data: Path, cache: Path, results: Path) -> list[str]:
    return [
        "run",
        "--encoder",
        "random:0",
        "--tasks",
        "cifar100,eurosat,dtd",
        "--data-root",
        str(data),
        "--cache",
        str(cache),
        "--results",
        str(results),
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--seed",
        "0",
        "1",
        "--workers",
        "0",
        "--quiet",
        "--device",
        "cpu",
    ]


def scores(results: Path) -> dict[str, list]:
    """Each result's per-seed scores, validation curves and chosen points, by file name."""
    out = {}
    for path in sorted(results.glob("*.json")):
        result = json.loads(path.read_text())
        out[path.name] = [(s["seed"], s["score"], s["val_curve"], s["point"]) for s in result["seeds"]]
    return out


@pytest.mark.e2e
def test_run_spreads_tasks_over_ranks_with_the_serial_results(tiny_cifar_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "cifar-100-python").symlink_to(tiny_cifar_root / "cifar-100-python")
    write_eurosat(data, per_class=6, size=32)
    write_dtd(data, per_class=6, size=32)
    alone = serial(run_args(data, tmp_path / "c1", tmp_path / "r1"))
    assert alone.returncode == 0, alone.stderr
    spread = ranks(2, run_args(data, tmp_path / "c2", tmp_path / "r2"))
    assert spread.returncode == 0, spread.stderr
    expected = scores(tmp_path / "r1")
    assert len(expected) == 3
    assert scores(tmp_path / "r2") == expected
    table = [line for line in spread.stdout.splitlines() if line.startswith("random")]
    assert [line.split()[2] for line in table] == ["cifar100", "eurosat", "dtd"], "rank 0 prints every task once"
    assert store_bytes(tmp_path / "c2") == store_bytes(tmp_path / "c1")
