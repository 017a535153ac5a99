"""Connect mode with real kernels: silik inside silik, kernels that die mid-cell,
interrupting `source`, relayed execute_reply payloads, and `install`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import kill_during_cell, start_external_kernel, use_up_auto_restarts


def pid_of(k, path: str) -> int:
    """The pid of a sub-kernel, from `info` (command mode)."""
    text = k.ok(f"info {path}").text
    return int(re.search(r"^pid:\s+(\d+)", text, re.M).group(1))


def result_text(res) -> str:
    (result,) = res.of_type("execute_result")
    return result["content"]["data"]["text/plain"]


def payloads(res, source: str) -> list[dict]:
    return [p for p in res.content.get("payload", []) if p.get("source") == source]


@pytest.fixture
def sh(shared_silik):
    """The shared silik, put back in command mode at ~ after the test."""
    yield shared_silik
    shared_silik.execute("<")
    shared_silik.execute("cd")


@pytest.fixture(scope="module")
def k1(shared_silik):
    """``~/k1.py`` on the shared silik, for the tests that only run code."""
    shared_silik.ok("new python3 -l k1")
    yield "~/k1.py"
    shared_silik.execute("<")
    shared_silik.execute("stop ~/k1.py")


# -- 1. silik inside silik ------------------------------------------------------------
def test_nested_silik_cmd_and_double_slash_cmd(silik):
    k = silik
    k.ok("new silik -l inner")
    assert "connected to ~/inner.silik" in k.ok("> inner.silik").stdout
    # These cells go to the inner silik.
    assert "~/k1.py" in k.ok("new python3 -l k1").stdout
    assert "connected to ~/k1.py" in k.ok("> k1.py").stdout
    # Python, answered by k1 through both silik kernels.
    assert result_text(k.ok("x = 5; x")) == "5"

    # `/cmd` leaves the outer connect mode only.
    assert "back to silik" in k.ok("/cmd").stdout
    assert k.ok("pwd").stdout == "~\n", "pwd must be the outer silik's, in command mode"
    tree = k.ok("tree").text
    assert re.search(r"inner\.silik\s+\[silik ", tree), tree
    assert "k1.py" not in tree, "k1.py lives in the inner silik's tree"

    # Back in: the inner silik is still connected to k1 (not stranded).
    k.ok("> inner.silik")
    assert result_text(k.ok("x")) == "5"

    # `//cmd` reaches the inner silik as `/cmd`: it leaves its connect mode.
    assert "back to silik" in k.ok("//cmd").stdout
    res = k.ok("pwd")  # relayed to the inner silik, now in command mode
    assert res.stdout == "~\n"
    assert "connected" not in res.text
    assert "k1.py" in k.ok("tree").text, "tree is the inner's now"

    # `/cmd` leaves the outer one.
    assert "back to silik" in k.ok("/cmd").stdout
    res = k.ok("pwd")
    assert res.stdout == "~\n" and "connected" not in res.text
    assert "k1.py" not in k.ok("tree").text
    k.ok("stop inner.silik")


def test_a_silik_command_typed_in_connect_mode_fails_with_a_hint_to_use_cmd(sh, k1):
    sh.ok(f"> {k1}")
    res = sh.fails("tree")
    assert res.content["ename"] == "NameError", "the kernel's own error, as it sent it"
    hint = "hint: you are connected to ~/k1.py: silik commands need /cmd, e.g. /cmd tree"
    assert res.stderr.splitlines() == [hint]
    assert res.messages[-1]["msg_type"] == "stream", "the hint comes after the error"
    res = sh.fails('run "print(x)" k1.py')
    assert 'e.g. /cmd run "print(x)" k1.py' in res.stderr
    # Python that merely starts with a command's name, or fails otherwise: no hint.
    assert sh.fails("stop = 1; stop + 'x'").stderr == ""
    assert sh.fails("1 / 0").stderr == ""
    assert sh.ok("tree = 2; tree").stderr == ""


# -- 2. a sub-kernel that dies during a connect-mode cell ------------------------------
def test_owned_kernel_killed_mid_cell_stays_connected(sh):
    k = sh
    k.ok("new python3 -l victim")
    pid = pid_of(k, "victim.py")
    k.ok("> victim.py")
    k.ok("state = 1")
    res, took = kill_during_cell(k, "import time; time.sleep(30)", pid, after=0.5, timeout=15)
    assert res.status == "error"
    assert took < 2, f"the cell waited {took:.1f} s for a dead kernel"
    assert res.content["ename"] == "KernelDied"
    assert "~/victim.py" in res.content["evalue"]
    assert "command mode" not in res.content["evalue"], "jupyter_client restarts it"
    assert "being restarted automatically" in res.content["evalue"]
    assert "restart ~/victim.py" not in res.content["evalue"], "nothing to type: it comes back"
    assert len(res.of_type("error")) == 1

    # The next cell waits for the automatic restart and runs on the new kernel.
    t0 = time.monotonic()
    res = k.execute("print('state' in globals())", timeout=20)
    assert res.status == "ok", res.text
    assert time.monotonic() - t0 < 10
    assert res.stdout == "False\n"
    assert "victim.py was restarted automatically" in res.stderr
    assert "variables" in res.stderr
    assert k.ok("print(2)").stderr == "", "the warning is given once"
    info = k.ok("/cmd info").text
    assert re.search(r"^path:\s+~/victim\.py$", info, re.M)
    assert int(re.search(r"^pid:\s+(\d+)", info, re.M).group(1)) != pid
    k.ok("/cmd")
    k.ok("stop victim.py")


def test_kernel_dead_for_good_returns_to_command_mode_where_restart_is_typable(sh):
    k = sh
    k.ok("new python3 -l fragile")
    connection_file = re.search(r"^connection file:\s+(\S+)", k.ok("info fragile.py").text, re.M)
    k.ok("> fragile.py")
    use_up_auto_restarts(k, connection_file.group(1))
    k.ok("x = 1")  # waits until its last automatic restart is back
    pid = int(re.search(r"^pid:\s+(\d+)", k.ok("/cmd info").text, re.M).group(1))
    res, _ = kill_during_cell(k, "import time; time.sleep(30)", pid, after=0.5, timeout=15)
    said = res.content["evalue"]
    assert said.startswith("kernel ~/fragile.py died: the kernel process exited")
    assert "not restarted automatically" in said
    assert said.endswith("`rm ~/fragile.py`.\nBack in silik command mode.")
    assert "Type `restart ~/fragile.py` for a fresh kernel" in said
    assert k.ok("pwd").stdout == "~\n"
    k.ok("restart ~/fragile.py")
    k.ok("stop fragile.py")


def test_attached_kernel_killed_returns_to_command_mode(sh, tmp_path):
    k = sh
    km = start_external_kernel(str(tmp_path / "kernel-x.json"))
    try:
        k.ok(f"new {km.connection_file} -l ext")
        k.ok("> ext.py")
        assert k.ok("print('on ext')").stdout == "on ext\n"
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=10)
        t0 = time.monotonic()
        res = k.execute("print('never')", timeout=20)
        took = time.monotonic() - t0
        assert res.status == "error"
        assert took < 8, f"the cell waited {took:.1f} s for a dead kernel"
        assert res.content["ename"] == "KernelDied"
        assert "~/ext.py" in res.content["evalue"]
        assert "Back in silik command mode" in res.content["evalue"]
        assert "never" not in res.stdout
        # Command mode: answered by silik, not relayed.
        res = k.ok("pwd")
        assert res.stdout == "~\n"
        assert re.search(r"ext\.py\s+\[attached dead\]", k.ok("tree").text)
        k.ok("stop ext.py")
    finally:
        km.shutdown_kernel(now=True)


# -- 3. interrupting `source` ----------------------------------------------------------
def test_interrupt_stops_source(sh, k1, tmp_path):
    script = tmp_path / "slow.silik"
    lines = ['run "import time; time.sleep(20)" k1.py', "run \"print('second')\" k1.py"]
    script.write_text("\n".join(lines) + "\n")
    msg_id = sh.kc.execute(f"source {script}")
    time.sleep(1)
    t0 = time.monotonic()
    sh.km.interrupt_kernel()
    res = sh.collect(msg_id, timeout=15)
    took = time.monotonic() - t0
    assert res.status == "error"
    assert took < 2, f"the cell ended {took:.1f} s after the interrupt"
    assert res.content["ename"] == "KeyboardInterrupt"
    assert "second" not in res.text
    # The second line never ran: k1's history has the sleep but no print.
    time.sleep(0.5)
    history = sh.ok("history -n 5 k1.py").stdout
    assert "time.sleep(20)" in history
    assert "print('second')" not in history
    assert sh.ok("run 'print(1)' k1.py").stdout == "1\n"


# -- 4. execute_reply payloads in connect mode -----------------------------------------
def test_payloads_are_relayed(sh):
    sh.ok("new python3 -l pay")
    pid = pid_of(sh, "pay.py")
    sh.ok("> pay.py")
    sh.ok("x = 1")
    (page,) = payloads(sh.ok("x?"), "page")
    assert "text/plain" in page["data"]
    (next_input,) = payloads(sh.ok('get_ipython().set_next_input("hello")'), "set_next_input")
    assert next_input["text"] == "hello"
    assert payloads(sh.ok("x + 1"), "set_next_input") == [], "a payload belongs to its cell"
    (ask_exit,) = payloads(sh.ok("exit"), "ask_exit")
    assert ask_exit["keepkernel"] is False
    # IPython's exit also ends that kernel's process: let jupyter_client bring it
    # back before stopping it, so that no restart races the stop.
    sh.ok("/cmd")
    wait_for_new_pid(sh, "pay.py", pid)
    sh.ok("stop pay.py")


def wait_for_new_pid(k, path: str, old: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = k.ok(f"info {path}").text
        pid = re.search(r"^pid:\s+(\d+)", text, re.M)
        idle = re.search(r"^status:\s+idle$", text, re.M)
        if pid and int(pid.group(1)) != old and idle:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not come back after exit: {text}")


# -- 5. python -m silik_kernel install -------------------------------------------------
def install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "silik_kernel", "install", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_writes_an_absolute_kernelspec(tmp_path):
    done = install("--prefix", str(tmp_path))
    assert done.returncode == 0, done.stderr
    spec_file = tmp_path / "share" / "jupyter" / "kernels" / "silik" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    argv = spec["argv"]
    assert argv[0] == sys.executable and os.path.isabs(argv[0])
    i = argv.index("-f")
    assert argv[i + 1] == "{connection_file}"

    done = install("--prefix", str(tmp_path), "--name", "other")
    assert done.returncode == 0, done.stderr
    other = tmp_path / "share" / "jupyter" / "kernels" / "other" / "kernel.json"
    assert json.loads(other.read_text())["argv"] == argv

    done = install("--user", "--prefix", str(tmp_path / "never"))
    assert done.returncode != 0
    assert "not allowed with argument" in done.stderr
    assert not (tmp_path / "never").exists()
