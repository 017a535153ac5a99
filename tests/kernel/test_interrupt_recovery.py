"""Nothing hangs, nothing is lost: an interrupted `new` keeps nothing, and a cell
on a kernel that no longer answers (SIGSTOPped) ends on an interrupt, after
which `stop` and `restart` still work.

Every kernel here is real; the processes are checked with psutil.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty

import psutil
import pytest

#: what an interrupted cell on a stopped kernel may take to end (grace + slack)
HUNG_CELL_ENDS_WITHIN = 5.0


def pid_of(k, path: str) -> int:
    text = k.ok(f"info {path}").text
    return int(re.search(r"^pid:\s+(\d+)", text, re.M).group(1))


def kernel_children(k) -> list[psutil.Process]:
    """The living processes silik started (its sub-kernels)."""
    try:
        children = psutil.Process(k.pid()).children(recursive=True)
    except psutil.Error:
        return []
    alive = []
    for p in children:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            pass
    return alive


def wait_no_children(k, timeout: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := kernel_children(k)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@contextmanager
def never_left_stopped(pid: int) -> Iterator[None]:
    """Whatever the block does, the process is not left SIGSTOPped."""
    try:
        yield
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def interrupt_after(k, code: str, after: float, timeout: float = 30):
    """Run ``code``, interrupt silik ``after`` s in; the result and the seconds
    from the interrupt to the cell's end."""
    msg_id = k.kc.execute(code)
    time.sleep(after)
    t0 = time.monotonic()
    k.km.interrupt_kernel()
    res = k.collect(msg_id, timeout=timeout)
    return res, time.monotonic() - t0


# -- 1. an interrupted `new` ends like a failed one ------------------------------------
@pytest.mark.parametrize("after", [0.05, 0.4, 0.8])
def test_interrupted_new_keeps_no_entry_and_no_process(silik, after):
    res, _took = interrupt_after(silik, "new python3 -l a b c", after)
    if res.status == "ok":
        # The kernels were up before the interrupt: a finished start keeps them.
        silik.ok("stop a.py b.py c.py")
    else:
        assert res.content["ename"] == "KeyboardInterrupt"
    assert not re.search(r"\b[abc]\.py\b", silik.ok("tree").text)
    left = wait_no_children(silik)
    assert not left, f"kernels of the interrupted start still run: {[p.pid for p in left]}"
    # The names are free again, and silik starts kernels as before.
    assert "~/a.py" in silik.ok("new python3 -l a").stdout
    silik.ok("stop a.py")


# -- 2. a kernel that does not answer ------------------------------------------------
def assert_not_responding(res, hint: str) -> None:
    assert res.status == "error"
    assert "not responding" in res.error, res.error
    assert hint in res.error, res.error


def stopped_mid_cell(silik, pid: int, code: str):
    """Run ``code``, SIGSTOP the kernel mid-cell, interrupt: the cell must end soon."""
    msg_id = silik.kc.execute(code)
    time.sleep(0.5)
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    silik.km.interrupt_kernel()
    res = silik.collect(msg_id, timeout=15)
    took = time.monotonic() - t0
    assert took < HUNG_CELL_ENDS_WITHIN, f"ended {took:.1f} s after the interrupt"
    return res


def test_interrupt_ends_a_cell_on_a_stopped_kernel_then_stop_works(silik):
    silik.ok("new python3 -l k1")
    pid = pid_of(silik, "k1.py")
    with never_left_stopped(pid):
        res = stopped_mid_cell(silik, pid, 'run "import time; time.sleep(30)" k1.py')
        assert_not_responding(res, "restart ~/k1.py")
        assert "stop ~/k1.py" in res.error
        # A run on the stopped kernel: the same way out.
        res, took = interrupt_after(silik, 'run "print(1)" k1.py', 0.5, timeout=15)
        assert took < HUNG_CELL_ENDS_WITHIN
        assert_not_responding(res, "restart ~/k1.py")
        t0 = time.monotonic()
        silik.ok("stop k1.py", timeout=20)
        assert time.monotonic() - t0 < 10
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "k1.py" not in silik.ok("tree").text


def test_restart_recovers_a_stopped_kernel(silik):
    silik.ok("new python3 -l k1")
    pid = pid_of(silik, "k1.py")
    with never_left_stopped(pid):
        os.kill(pid, signal.SIGSTOP)
        res, took = interrupt_after(silik, 'run "print(1)" k1.py', 0.5, timeout=15)
        assert took < HUNG_CELL_ENDS_WITHIN
        assert_not_responding(res, "restart ~/k1.py")
        silik.ok("restart k1.py", timeout=30)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert silik.ok('run "print(2)" k1.py').stdout == "2\n"
    silik.ok("stop k1.py")


def test_connect_mode_cell_on_a_stopped_kernel(silik):
    silik.ok("new python3 -l k1")
    pid = pid_of(silik, "k1.py")
    silik.ok("> k1.py")
    with never_left_stopped(pid):
        res = stopped_mid_cell(silik, pid, "import time; time.sleep(30)")
        # The hint is typable here, in connect mode.
        assert_not_responding(res, "/cmd restart ~/k1.py")
        assert "/cmd stop ~/k1.py" in res.error
        silik.ok("/cmd stop ~/k1.py", timeout=20)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    silik.execute("<")
    assert "k1.py" not in silik.ok("tree").text


#: A process-directed SIGINT that waited while the process was stopped may be
#: taken by another thread: the sleep then raises KeyboardInterrupt only as it
#: ends. Either way, "late" is printed after the cell was given up.
SLEEP_THEN_SAY_LATE = (
    "import time\ntry:\n    time.sleep(6)\nexcept KeyboardInterrupt:\n    print('late')"
)


def late_output(k, msg_id: str, timeout: float = 15.0) -> str:
    """The stdout that reaches cell ``msg_id`` after its end."""
    deadline = time.monotonic() + timeout
    text = ""
    while "late" not in text and time.monotonic() < deadline:
        try:
            msg = k.kc.get_iopub_msg(timeout=0.2)
        except Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            text += msg["content"]["text"]
    return text


@pytest.mark.parametrize("connected", [False, True])
def test_a_kernel_that_comes_back_is_usable_and_its_late_output_routes(silik, connected):
    silik.ok("new python3 -l k1")
    pid = pid_of(silik, "k1.py")
    code = SLEEP_THEN_SAY_LATE if connected else f'run "{SLEEP_THEN_SAY_LATE}" k1.py'
    if connected:
        silik.ok("> k1.py")
    with never_left_stopped(pid):
        msg_id = silik.kc.execute(code)
        time.sleep(0.5)
        os.kill(pid, signal.SIGSTOP)
        silik.km.interrupt_kernel()
        res = silik.collect(msg_id, timeout=15)
        assert_not_responding(res, "restart ~/k1.py")
    # Continued, the kernel takes the interrupt it was sent: the first cell's
    # code ends, and what it prints then still reaches that cell.
    assert late_output(silik, msg_id) == "late\n"
    if connected:
        assert silik.ok("print(3)").stdout == "3\n"
        silik.ok("<")
    else:
        assert silik.ok('run "print(3)" k1.py').stdout == "3\n"
    silik.ok("stop k1.py")
