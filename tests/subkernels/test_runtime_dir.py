"""runtime_files: one private, locked directory per process; stale ones removed safely."""

from __future__ import annotations

import os
import stat
import time

from silik_kernel.runtime_files import (
    RuntimeFiles,
    open_private_log,
    private_dir,
    remove_private_dir,
    remove_stale,
)


def _die(files: RuntimeFiles) -> None:
    """What a SIGKILL does to the owner: its lock is dropped, its files stay."""
    assert files._lock_fd is not None
    os.close(files._lock_fd)
    files._lock_fd = None


def test_only_directories_without_a_living_owner_are_removed(tmp_path):
    root = str(tmp_path)
    live = RuntimeFiles.create(root)
    open(live.file("kernel-silik-a.json"), "w").close()
    dead = RuntimeFiles.create(root)  # named after this (living) pid: a reused pid
    open(dead.file("kernel-silik-b.json"), "w").close()
    _die(dead)
    others = [tmp_path / "silik-notes", tmp_path / "kernel-1234.json"]
    others[0].mkdir()
    others[1].write_text("{}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "silik-1-0123456789ab").symlink_to(elsewhere)

    assert remove_stale(root) == [dead.path]
    assert not os.path.exists(dead.path)
    assert os.path.exists(live.file("kernel-silik-a.json"))
    assert all(p.exists() for p in [*others, elsewhere])
    assert remove_stale(root) == []
    live.remove()
    assert not os.path.exists(live.path)


def test_a_directory_being_made_is_left_alone_until_it_is_old(tmp_path):
    root = str(tmp_path)
    making = tmp_path / ".silik-99999-0123456789ab.new"  # its maker died before locking
    making.mkdir()
    lockless = tmp_path / "silik-99998-0123456789ab"
    lockless.mkdir()
    assert remove_stale(root) == []
    old = time.time() - 3600
    for path in (making, lockless):
        os.utime(path, (old, old))
    assert sorted(remove_stale(root)) == sorted([str(making), str(lockless)])


def test_the_private_directory_and_its_files_are_the_users_only(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    old_umask = os.umask(0o022)  # a usual umask, whatever the runner's
    try:
        files = private_dir()
        assert private_dir() is files
        assert stat.S_IMODE(os.stat(files.path).st_mode) == 0o700
        log = files.file("kernel-silik-x.log")
        os.close(open_private_log(log))
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
        remove_private_dir()
        assert not os.path.exists(files.path)
        assert private_dir() is not files  # a new one when a kernel starts again
        remove_private_dir()
    finally:
        os.umask(old_umask)
