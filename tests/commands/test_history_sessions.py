"""`history PATH` shows that kernel's own session only, even when IPython's shared
history database holds other kernels' and older sessions' inputs."""

from __future__ import annotations

import os

import pytest
from conftest import KernelDriver


@pytest.fixture
def ipython_dir(tmp_path):
    """An IPython directory whose history database already holds an older session."""
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    older = KernelDriver("python3", env=env)
    try:
        older.ok("older_session_marker = 1")
    finally:
        older.shutdown()
    return env


def test_history_is_the_kernels_own_session(ipython_dir):
    silik = KernelDriver("silik", env=ipython_dir)
    try:
        silik.ok("new python3 -l fresh")
        silik.ok("new python3 -l other")
        silik.ok("run 'other_kernel_marker = 2' other.py")
        assert silik.ok("history fresh.py -n 3").stdout.strip() == "(no history)"
        silik.ok("run 'fresh_marker = 3' fresh.py")
        silik.ok("run 'fresh_marker + 1' fresh.py")
        shown = silik.ok("history fresh.py -n 3").stdout
        assert shown.splitlines() == ["[1] fresh_marker = 3", "[2] fresh_marker + 1"]
        assert silik.ok("history fresh.py -n 1").stdout.splitlines() == ["[2] fresh_marker + 1"]
        assert silik.ok("history fresh.py -o -n 1").stdout.splitlines() == [
            "[2] fresh_marker + 1",
            "  -> 4",
        ]
        res = silik.fails("history fresh.py -n 0")
        assert "cannot show 0 history entries" in res.content["evalue"]
        assert silik.ok("history other.py").stdout.splitlines() == ["[1] other_kernel_marker = 2"]
    finally:
        silik.shutdown()
