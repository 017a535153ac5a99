"""Lifecycle through the protocol: shutdown, SIGTERM, exit, and sub-kernels that die."""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest
from conftest import kill_during_cell, start_external_kernel, use_up_auto_restarts
from jupyter_kernel_test.msgspec_v5 import validate_message


def kernel_facts(k, path: str) -> tuple[int, str]:
    """(pid, connection file) of a sub-kernel, from `info`."""
    text = k.ok(f"info {path}").text
    pid = int(re.search(r"^pid:\s+(\d+)", text, re.M).group(1))
    connection_file = re.search(r"^connection file:\s+(\S+)", text, re.M).group(1)
    return pid, connection_file


def status_of(k, path: str) -> str:
    rows = [r.split() for r in k.ok(f"ls {path}").text.splitlines()[1:]]
    return rows[0][2]


def wait_for_status(k, path: str, wanted: set[str], timeout: float = 20) -> list[str]:
    """Poll `ls` until the kernel's status is one of ``wanted``; every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = status_of(k, path)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in wanted:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{path} never became {wanted}; seen {seen}")


def assert_process_gone(pids: list[int], timeout: float = 10) -> None:
    gone, alive = psutil.wait_procs(
        [p for p in (_process(pid) for pid in pids) if p], timeout=timeout
    )
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running: {alive}"


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


@pytest.fixture
def two_kernels(silik):
    """A fresh silik with two sub-kernels: (silik pid, sub pids, files they own)."""
    silik.ok("mkdir w\nnew python3 -l a\nnew python3 -l b -d w")
    facts = [kernel_facts(silik, p) for p in ("a.py", "w/b.py")]
    files = [f for _, cf in facts for f in (cf, cf[: -len(".json")] + ".log")]
    assert all(os.path.exists(f) for f in files)
    assert all(os.path.basename(f).startswith("kernel-silik-") for f in files)
    children = psutil.Process(silik.pid()).children(recursive=True)
    assert {pid for pid, _ in facts} <= {c.pid for c in children}
    return silik.pid(), [c.pid for c in children], files


def assert_cleaned_up(silik_pid: int, children: list[int], files: list[str]) -> None:
    assert_process_gone([silik_pid], timeout=15)
    assert_process_gone(children)
    left = [f for f in files if os.path.exists(f)]
    assert not left, f"connection files left behind: {left}"


def test_shutdown_request_stops_every_sub_kernel(silik, two_kernels):
    silik_pid, children, files = two_kernels
    res = silik.ok("exit")
    assert res.content["payload"] == [{"source": "ask_exit", "keepkernel": False}]
    # A frontend that got ask_exit shuts the kernel down.
    t0 = time.monotonic()
    msg_id = silik.kc.shutdown()
    reply = silik.kc.get_control_msg(timeout=20)
    validate_message(reply)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["msg_type"] == "shutdown_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["restart"] is False
    assert_cleaned_up(silik_pid, children, files)
    assert time.monotonic() - t0 < 10


def test_sigterm_stops_every_sub_kernel(silik, two_kernels):
    silik_pid, children, files = two_kernels
    os.kill(silik_pid, signal.SIGTERM)
    assert_cleaned_up(silik_pid, children, files)


# -- sub-kernels that die --------------------------------------------------------------
def test_kernel_killed_mid_cell_then_restarted(shared_silik):
    k = shared_silik
    k.ok("new python3 -l victim")
    pid, _ = kernel_facts(k, "victim.py")
    res, took = kill_during_cell(
        k, "run 'import time; time.sleep(30)' victim.py", pid, after=1, timeout=10
    )
    assert res.status == "error"
    assert took < 2, f"the cell waited {took:.1f} s for a dead kernel"
    assert res.content["ename"] == "KernelDied"
    said = res.content["evalue"]
    assert said.startswith("kernel ~/victim.py died: the kernel process exited")
    assert "being restarted automatically" in said and "variables and imports" in said
    assert "restart ~/victim.py" not in said, "there is nothing to type: it comes back"
    assert len(res.of_type("error")) == 1
    # jupyter_client's restarter brings it back; the next run says the state is gone.
    wait_for_status(k, "victim.py", {"idle"})
    assert kernel_facts(k, "victim.py")[0] != pid
    res = k.ok("run 'print(\"back\")' victim.py")
    assert res.stdout == "back\n"
    assert "restarted automatically" in res.stderr and "victim.py" in res.stderr
    assert k.ok("run 'print(1)' victim.py").stderr == "", "the warning is given once"
    k.ok("stop victim.py")


def test_dead_for_good_once_automatic_restarts_are_used_up(shared_silik):
    k = shared_silik
    k.ok("new python3 -l fragile")
    _, connection_file = kernel_facts(k, "fragile.py")
    use_up_auto_restarts(k, connection_file)
    k.ok("run 'x = 1' fragile.py")  # waits until its last automatic restart is back
    pid, _ = kernel_facts(k, "fragile.py")
    res, _ = kill_during_cell(
        k, "run 'import time; time.sleep(30)' fragile.py", pid, after=0.5, timeout=10
    )
    assert res.content["ename"] == "KernelDied"
    said = res.content["evalue"]
    assert said.startswith("kernel ~/fragile.py died: the kernel process exited")
    assert "not restarted automatically" in said and "being restarted" not in said
    assert "Type `restart ~/fragile.py` for a fresh kernel, or `rm ~/fragile.py`" in said
    wait_for_status(k, "fragile.py", {"dead"}, timeout=10)
    res = k.fails("run 'print(1)' fragile.py")
    assert "restart ~/fragile.py" in res.content["evalue"]
    assert re.search(
        r"^status:\s+dead \(the kernel process exited", k.ok("info fragile.py").text, re.M
    )
    k.ok("restart fragile.py")
    assert status_of(k, "fragile.py") == "idle"
    assert k.ok("run 'print(2)' fragile.py").stdout == "2\n"
    k.ok("stop fragile.py")


def test_kernel_killed_while_idle(shared_silik):
    k = shared_silik
    k.ok("new python3 -l idler")
    k.ok("run 'x = 1' idler.py")
    pid, _ = kernel_facts(k, "idler.py")
    os.kill(pid, signal.SIGKILL)
    wait_for_status(k, "idler.py", {"restarting"}, timeout=10)
    assert re.search(r"idler\.py\s+\[python3 (restarting|idle)\]", k.ok("tree").text)
    # A run while it comes back waits for it, then says that the state is gone.
    res = k.ok("run 'print(\"x\" in globals())' idler.py")
    assert res.stdout == "False\n"
    assert "warning: ~/idler.py was restarted automatically" in res.stderr
    assert "variables" in res.stderr
    assert status_of(k, "idler.py") == "idle"
    assert k.ok("run 'print(1)' idler.py").stderr == ""
    k.ok("stop idler.py")


def test_attached_kernel_that_dies_is_dead(shared_silik, tmp_path):
    k = shared_silik
    km = start_external_kernel(str(tmp_path / "kernel-ext.json"))
    try:
        k.ok(f"new {km.connection_file} -l ext")
        assert status_of(k, "ext.py") == "idle"
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        wait_for_status(k, "ext.py", {"dead"}, timeout=10)
        assert re.search(r"ext\.py\s+\[attached dead\]", k.ok("tree").text)
        info = k.ok("info ext.py").text
        assert re.search(r"^status:\s+dead \(the kernel stopped answering", info, re.M)
        res = k.fails("run 'print(1)' ext.py")
        assert res.content["ename"] == "KernelDied"
        assert "~/ext.py" in res.content["evalue"] and "attached" in res.content["evalue"]
        k.ok("stop ext.py")
        assert "ext.py" not in k.ok("tree").text
    finally:
        km.shutdown_kernel(now=True)
