"""Where silik keeps the files it writes while it runs, and how they go away.

Connection files, kernel logs and the bridge file hold keys. Each silik process
(or other process that starts kernels through silik) keeps them in one directory
of its own, ``<jupyter runtime dir>/silik-<pid>-<token>/``, that only the user can
enter (0700; the files in it are 0600). The process holds an exclusive lock on
a file in it for as long as it lives, so one removal takes everything it wrote.

A process killed with SIGKILL removes nothing; the OS drops its lock, though,
and the next one to start removes every such directory whose lock it can take.
A live owner keeps its lock, and a new process that reuses a dead owner's pid
never held it, so a live process's files are never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import time
import uuid

from jupyter_core.paths import jupyter_runtime_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so nothing stale is ever removed
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "owner.lock"
#: a directory is still being made, or its owner died making it, for this long
YOUNG = 60.0
_NAME = re.compile(r"^\.?silik-\d+-[0-9a-f]{12}(\.new)?$")


class RuntimeFiles:
    """This process's private directory in the Jupyter runtime directory."""

    def __init__(self, path: str, lock_fd: int | None) -> None:
        self.path = path
        self._lock_fd = lock_fd

    @classmethod
    def create(cls, root: str) -> RuntimeFiles:
        """Make and lock a new directory under ``root``.

        It is made and locked under a name the sweep ignores, then renamed: a
        sweep never sees it unlocked.
        """
        os.makedirs(root, mode=0o700, exist_ok=True)
        name = f"silik-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        making = os.path.join(root, f".{name}.new")
        os.mkdir(making, 0o700)
        os.chmod(making, 0o700)  # whatever the umask
        fd = os.open(os.path.join(making, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            # Where the file system has no locks, no sweep can take one either: kept.
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = os.path.join(root, name)
        os.rename(making, path)
        return cls(path, fd)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def remove(self) -> None:
        """Remove the directory with everything in it (kernels need their files
        only to be found by other frontends: open handles keep working)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None


_mine: dict[tuple[int, str], RuntimeFiles] = {}


def private_dir() -> RuntimeFiles:
    """This process's directory in the current Jupyter runtime directory, made
    (after removing stale ones) on first use and removed at exit."""
    root = jupyter_runtime_dir()
    key = (os.getpid(), root)  # a forked child makes its own
    if key not in _mine:
        remove_stale(root)
        _mine[key] = RuntimeFiles.create(root)
        atexit.register(_mine[key].remove)
    return _mine[key]


def remove_private_dir() -> None:
    """Remove this process's files now (at shutdown, before stopping its kernels)."""
    found = _mine.pop((os.getpid(), jupyter_runtime_dir()), None)
    if found is not None:
        found.remove()


def open_private_log(path: str) -> int:
    """A file descriptor appending to ``path``, created readable by its owner only."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def remove_stale(root: str | None = None) -> list[str]:
    """Remove the directories of silik processes that are gone; returns their paths."""
    root = root or jupyter_runtime_dir()
    if fcntl is None:
        return []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    removed = []
    for entry in entries:
        if _NAME.match(entry.name) and entry.is_dir(follow_symlinks=False):
            if _owner_gone(entry.path, making=entry.name.endswith(".new")):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed


def _owner_gone(path: str, making: bool) -> bool:
    """True when no live process holds the directory's lock."""
    try:
        young = time.time() - os.lstat(path).st_mtime < YOUNG
    except OSError:
        return False  # gone already
    try:
        fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return not young  # no lock file: being made now, or its maker died doing it
    except OSError:
        return False  # not ours to judge (another user's, a link): leave it
    try:
        assert fcntl is not None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its owner lives
    finally:
        os.close(fd)  # also drops the lock we may have taken
    return not (making and young)
