"""leaderboard.files: whole-file and whole-folder replacement, temporary names, leftovers of dead writers."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import leaderboard.files as safefiles
from leaderboard.files import HOST, lock, remove_stale, replace_folder, temp_path, write_atomic


def test_write_atomic_honours_the_umask_and_leaves_no_temporary(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert path.read_text() == "{}" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_atomic(tmp_path / "r.json", "old")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        write_atomic(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_temporary_names_differ_per_call_and_name_the_writer(tmp_path: Path) -> None:
    first, second = temp_path(tmp_path / "x"), temp_path(tmp_path / "x")
    assert first != second and f".{HOST}.{os.getpid()}." in first.name
    assert safefiles.TEMPORARY.fullmatch(first.name)


def test_only_dead_writers_leftovers_on_this_host_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_file = tmp_path / f".r.json.{HOST}.{dead.pid}.0123abcd.tmp"
    stale_folder = tmp_path / f".board.{HOST}.{dead.pid}.0123abcd.tmp"
    live = tmp_path / f".r.json.{HOST}.{os.getpid()}.0123abcd.tmp"
    elsewhere = tmp_path / f".r.json.otherhost.{dead.pid}.0123abcd.tmp"
    for path in (stale_file, live, elsewhere):
        path.write_text("x")
    (stale_folder / "index.html").parent.mkdir()
    (stale_folder / "index.html").write_text("x")
    assert sorted(remove_stale(tmp_path)) == sorted([stale_file, stale_folder])
    assert live.exists() and elsewhere.exists()


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_replace_folder_swaps_whole_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> None:
    if not exchange:
        monkeypatch.setattr(safefiles, "_exchange", lambda first, second: False)
    target, new = tmp_path / "board", tmp_path / ".board.new"
    target.mkdir()
    (target / "old.csv").write_text("old")
    new.mkdir()
    (new / "new.csv").write_text("new")
    replace_folder(new, target)
    assert [p.name for p in target.iterdir()] == ["new.csv"] and [p.name for p in tmp_path.iterdir()] == ["board"]


def test_the_lock_is_one_object_per_path_and_reentrant(tmp_path: Path) -> None:
    held = lock(tmp_path / "x.lock")
    assert lock(tmp_path / "x.lock") is held
    with held, held:
        assert held.is_locked
    assert not held.is_locked
