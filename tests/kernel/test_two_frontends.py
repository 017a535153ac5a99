"""Two frontends on one silik, each with its own jupyter_client Session: neither
wedges the other, and they share one connect mode."""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

import pytest
from conftest import KernelDriver, Result, validate_message
from jupyter_client.session import Session

SLOW_RUN = "run \"import time\nprint('start', flush=True)\ntime.sleep(30)\" k2.py"


class Frontend:
    """A second client of ``driver``'s kernel, with a Session (and ZMQ identity) of its own."""

    def __init__(self, driver: KernelDriver) -> None:
        km = driver.km
        session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
        self.kc = km.client(session=session)
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=30)

    def start(self, code: str) -> str:
        return self.kc.execute(code)

    def wait(self, msg_id: str, timeout: float) -> Result:
        """The cell's outputs until its idle, then its reply, all within ``timeout``."""
        deadline = time.monotonic() + timeout
        messages: list[dict[str, Any]] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no idle within {timeout} s; got {messages}")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 0.1))
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            validate_message(msg)
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
            elif msg["msg_type"] != "execute_input":
                messages.append(msg)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply within {timeout} s")
            reply = self.kc.get_shell_msg(timeout=remaining)
            if reply["parent_header"].get("msg_id") == msg_id:
                validate_message(reply)
                return Result(reply, messages)

    def run(self, code: str, timeout: float = 10) -> Result:
        return self.wait(self.start(code), timeout)

    def wait_for_output(self, msg_id: str, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id and text in str(msg["content"]):
                return
        raise TimeoutError(f"{text!r} not shown within {timeout} s")

    def close(self) -> None:
        self.kc.stop_channels()


@pytest.fixture
def two(silik):
    a, b = Frontend(silik), Frontend(silik)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_a_stop_from_another_frontend_ends_the_cell_it_stops(two):
    a, b = two
    assert a.run("new python3 -l k2", timeout=60).status == "ok"
    running = a.start(SLOW_RUN)
    a.wait_for_output(running, "start", timeout=10)

    started = time.monotonic()
    stopped = b.run("stop k2.py", timeout=5)
    waited = time.monotonic() - started
    assert stopped.status == "ok", stopped.content
    assert "stopped ~/k2.py" in stopped.text
    assert waited < 3, f"B's stop waited {waited:.1f} s behind A's cell"

    ended = a.wait(running, timeout=5)  # promptly, not after the 30 s sleep
    assert ended.status == "error", ended.content
    assert "stopped by another frontend" in ended.error, ended.error
    # Both frontends go on.
    assert a.run("pwd").stdout == "~\n"
    assert "k2.py" not in b.run("tree").text


def test_a_stop_from_another_frontend_ends_a_connect_mode_cell(two):
    a, b = two
    assert a.run("new python3 -l k2", timeout=60).status == "ok"
    assert "connected to ~/k2.py" in a.run("> k2.py").text
    running = a.start("import time\nprint('start', flush=True)\ntime.sleep(30)")
    a.wait_for_output(running, "start", timeout=10)

    # Connect mode is shared: B is connected too, and reaches silik with /cmd.
    stopped = b.run("/cmd stop k2.py", timeout=5)
    assert stopped.status == "ok", stopped.content
    ended = a.wait(running, timeout=5)
    assert ended.status == "error", ended.content
    assert "stopped by another frontend" in ended.error, ended.error
    # A is back in command mode, and says so.
    assert "Back in silik command mode" in ended.error, ended.error
    assert a.run("pwd").stdout == "~\n"


def test_connect_mode_is_shared_by_the_frontends(two):
    """As the README says: one connect mode for the session, whichever frontend
    typed `> PATH`; `/cmd` reaches silik from any of them."""
    a, b = two
    assert a.run("new python3 -l k1", timeout=60).status == "ok"
    assert "connected to ~/k1.py" in a.run("> k1.py").text
    assert a.run("x = 19; x").text.strip() == "19"
    assert b.run("x + 1").text.strip() == "20"  # B's cells go to k1.py too
    assert "k1.py" in b.run("/cmd tree").text
    assert "stopped ~/k1.py" in b.run("/cmd stop k1.py").text
    assert a.run("pwd").stdout == "~\n"  # both back in command mode
