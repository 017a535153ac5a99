"""The files silik writes (keys: connection files, logs, the bridge file): private,
removed at shutdown, and removed at the next start when silik was killed.

Each silik here gets a runtime directory of its own (JUPYTER_RUNTIME_DIR), so
what other tests and other processes write there does not count.
"""

from __future__ import annotations

import os
import signal
import stat
import time

import psutil
import pytest
from conftest import KernelDriver
from jupyter_client.manager import _ShutdownStatus


def _env(runtime) -> dict[str, str]:
    return {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}


def _files(root) -> set[str]:
    return {os.path.join(d, f) for d, _, names in os.walk(root) for f in names}


def _children(driver: KernelDriver) -> list[psutil.Process]:
    return psutil.Process(driver.pid()).children(recursive=True)


def _assert_gone(procs: list[psutil.Process], timeout: float) -> None:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running: {alive}"


def test_a_killed_silik_leaves_nothing_after_the_next_start(tmp_path):
    env = _env(tmp_path)
    victim = KernelDriver("silik", env=env)
    survivor: KernelDriver | None = None
    try:
        victim.ok("new python3 -l a")
        mine = _files(tmp_path)
        # (a bridge directory only once an agent kernel starts: issue 19)
        assert sum(os.path.basename(f).startswith("kernel-silik-") for f in mine) == 2, mine
        assert sum(f.endswith(".log") for f in mine) == 1
        survivor = KernelDriver("silik", env=env)
        survivor.ok("new python3 -l c")
        theirs = _files(tmp_path) - mine
        assert len(theirs) >= 3  # c's connection file and log, the bridge file

        subs = _children(victim)
        os.kill(victim.pid(), signal.SIGKILL)
        _assert_gone(subs, timeout=15)  # sub-kernels notice their parent is gone
        assert mine <= _files(tmp_path), "nobody removed them yet"

        following = KernelDriver("silik", env=env)
        try:
            assert not mine & _files(tmp_path), "the next start removes a killed silik's files"
            assert theirs <= _files(tmp_path), "a live silik's files stay"
            assert survivor.ok('run "print(1)" c.py').stdout == "1\n"
        finally:
            following.shutdown()
    finally:
        victim.shutdown()
        if survivor is not None:
            survivor.shutdown()
    assert not _files(tmp_path)


def test_every_file_is_private_and_every_socket_on_loopback(tmp_path):
    driver = KernelDriver("silik", env=_env(tmp_path))
    try:
        driver.ok("new python3 -l a b")
        files = _files(tmp_path)
        assert len(files) >= 5
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
            folder = os.path.dirname(path)
            assert stat.S_IMODE(os.stat(folder).st_mode) & 0o777 == 0o700, folder
        processes = [psutil.Process(driver.pid()), *_children(driver)]
        listening = [
            c.laddr
            for p in processes
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        # silik's 5 Jupyter sockets, the bridge, 5 per sub-kernel (ipykernel also
        # binds an internal socket of its own)
        assert len(listening) >= 16, listening
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
    finally:
        driver.shutdown()


@pytest.mark.parametrize("kernels", [6])
def test_shutdown_with_slow_kernels_ends_within_jupyter_clients_wait(tmp_path, kernels):
    """Kernels that do not exit on their own (SIGTERM ignored, a slow atexit) are
    killed in time: silik is never killed, and leaves no file and no process."""
    driver = KernelDriver("silik", env=_env(tmp_path))
    driver.ok(f"new python3 -n {kernels}")
    stubborn = "import atexit, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); atexit.register(time.sleep, 30)"
    paths = " ".join(f"py{i}.py" for i in range(1, kernels + 1))
    driver.ok(f'broadcast "{stubborn}" {paths}')
    subs = _children(driver)
    assert len(subs) >= kernels
    driver.kc.stop_channels()
    start = time.monotonic()
    driver.km.shutdown_kernel(now=False)  # waits up to shutdown_wait_time (5 s), then kills
    took = time.monotonic() - start
    assert driver.km._shutdown_status == _ShutdownStatus.ShutdownRequest, (
        f"silik did not exit within jupyter_client's wait ({took:.1f} s)"
    )
    _assert_gone(subs, timeout=2)
    assert not _files(tmp_path)
