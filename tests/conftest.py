"""Shared fixtures: real kernels through jupyter_client, and a leak check.

Every message a kernel sends to a test client is validated against the
message spec (jupyter_kernel_test's v5 schemas) by :class:`KernelDriver`.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

import psutil
import pytest
from jupyter_client.manager import KernelManager

TIMEOUT = 30


def validate_message(msg: dict[str, Any], *args: Any) -> None:
    """The message spec check (imported lazily: jsonschema costs ~2 s to import)."""
    from jupyter_kernel_test.msgspec_v5 import schema_fragments
    from jupyter_kernel_test.msgspec_v5 import validate_message as validate

    # jupyter_kernel_test 0.7 types input_request.password as a number; the spec says boolean.
    schema_fragments["input_request"]["properties"]["password"] = {"type": "boolean"}
    validate(msg, *args)


def _descendants() -> set[int]:
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Fail a test that leaves a child process (kernel) behind."""
    before = _descendants()
    yield
    deadline = time.monotonic() + 10
    leaked: set[int] = set()
    while time.monotonic() < deadline:
        leaked = set()
        for pid in _descendants() - before:
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    leaked.add(pid)
            except psutil.Error:
                pass
        if not leaked:
            return
        time.sleep(0.1)
    cmds = []
    for pid in leaked:
        try:
            cmds.append(" ".join(psutil.Process(pid).cmdline())[:200])
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    pytest.fail(f"test left {len(leaked)} process(es) running: {cmds}")


def plain_text_of(msg: dict[str, Any]) -> str | None:
    """What one output message shows as text/plain; None for other messages."""
    c = msg["content"]
    if msg["msg_type"] == "stream":
        return c["text"]
    if msg["msg_type"] in ("display_data", "execute_result", "update_display_data"):
        return c["data"].get("text/plain", "")
    if msg["msg_type"] == "error":
        return "\n".join(c["traceback"])
    return None


@dataclass
class Result:
    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    @property
    def content(self) -> dict[str, Any]:
        return self.reply["content"]

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr"
        )

    @property
    def text(self) -> str:
        """Everything shown as text/plain: streams, displays, results, errors."""
        parts = []
        for m in self.messages:
            shown = plain_text_of(m)
            if shown is not None:
                parts.append(shown if m["msg_type"] == "stream" else shown + "\n")
        return "".join(parts)

    @property
    def error(self) -> str:
        return "\n".join("\n".join(m["content"]["traceback"]) for m in self.of_type("error"))


class KernelDriver:
    """A blocking client on a real kernel that validates every message it receives."""

    def __init__(
        self, kernel_name: str = "silik", *, km: KernelManager | None = None, **start_kw: Any
    ) -> None:
        self.km = km if km is not None else KernelManager(kernel_name=kernel_name)
        self.km.start_kernel(**start_kw)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.stdin_answers: list[str] = []
        self.input_prompts: list[dict[str, Any]] = []

    def execute(
        self, code: str, *, timeout: float = TIMEOUT, allow_stdin: bool = False, **kw: Any
    ) -> Result:
        msg_id = self.kc.execute(code, allow_stdin=allow_stdin, **kw)
        return self.collect(msg_id, timeout=timeout)

    def collect(self, msg_id: str, timeout: float = TIMEOUT) -> Result:
        """Iopub messages of ``msg_id`` until idle, answering input requests, then the reply."""
        deadline = time.monotonic() + timeout
        messages = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no idle status within {timeout} s; got {messages}")
            self._answer_stdin(msg_id)
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 0.05))
            except Empty:
                continue
            validate_message(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
                continue
            if msg["msg_type"] == "execute_input":
                continue
            messages.append(msg)
        reply = self.shell_reply(msg_id, deadline - time.monotonic())
        return Result(reply, messages)

    def _answer_stdin(self, msg_id: str) -> None:
        try:
            msg = self.kc.get_stdin_msg(timeout=0)
        except Empty:
            return
        validate_message(msg)
        self.input_prompts.append(msg["content"])
        answer = self.stdin_answers.pop(0) if self.stdin_answers else ""
        self.kc.input(answer)

    def shell_reply(self, msg_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + max(timeout, 1)
        while True:
            reply = self.kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
            validate_message(reply)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def ok(self, code: str, **kw: Any) -> Result:
        res = self.execute(code, **kw)
        assert res.status == "ok", f"{code!r} failed: {res.content} {res.text}"
        return res

    def fails(self, code: str, **kw: Any) -> Result:
        res = self.execute(code, **kw)
        assert res.status == "error", f"{code!r} should fail: {res.text}"
        return res

    def request(self, method: str, *args: Any, **kw: Any) -> dict[str, Any]:
        msg_id = getattr(self.kc, method)(*args, **kw)
        return self.shell_reply(msg_id)

    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)


@pytest.fixture
def silik():
    """A fresh silik kernel, shut down (with every sub-kernel) after the test."""
    driver = KernelDriver("silik")
    try:
        yield driver
    finally:
        driver.shutdown()


@pytest.fixture(scope="module")
def shared_silik():
    """One silik kernel for a module of tests that do not care about fresh state.

    Started before the per-test leak check, so it is not counted as a leak; each
    test must stop the sub-kernels it starts.
    """
    driver = KernelDriver("silik")
    try:
        yield driver
    finally:
        driver.shutdown()


def start_external_kernel(connection_file: str, kernel_name: str = "python3") -> KernelManager:
    """A kernel started outside silik, up and answering, for silik to attach to.

    The caller shuts it down (``km.shutdown_kernel(now=True)``).
    """
    km = KernelManager(kernel_name=kernel_name)
    km.connection_file = connection_file
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    except BaseException:
        km.shutdown_kernel(now=True)
        raise
    finally:
        kc.stop_channels()
    return km


def kill_during_cell(
    driver: KernelDriver, code: str, pid: int, after: float, timeout: float
) -> tuple[Result, float]:
    """Run ``code``, SIGKILL ``pid`` ``after`` seconds in; the cell's result and the
    seconds from the kill to its end."""
    msg_id = driver.kc.execute(code)
    time.sleep(after)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    res = driver.collect(msg_id, timeout=timeout)
    return res, time.monotonic() - killed


def use_up_auto_restarts(driver: KernelDriver, connection_file: str, timeout: float = 60) -> None:
    """SIGKILL a sub-kernel of ``driver`` (found by its connection file) each time
    jupyter_client's restarter brings it back, until its 5 automatic restarts in a
    row (the restarter's ``restart_limit``) are used up: its next death within 10 s
    is for good."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(killed) < 5:
        assert time.monotonic() < deadline, f"only {len(killed)} restarts in {timeout} s"
        for proc in psutil.Process(driver.pid()).children(recursive=True):
            try:
                if proc.pid in killed or connection_file not in proc.cmdline():
                    continue
                if proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
                    killed.add(proc.pid)
            except psutil.Error:
                pass
        time.sleep(0.05)


def keyless_sockets(ctx: Any, info: dict[str, Any], curve_keys: bool = False) -> tuple[Any, Any]:
    """A shell DEALER and an IOPub SUB on a kernel's ports, as a local process that
    knows the ports but not the kernel's CurveZMQ public key (with a keypair of its
    own and a guessed server key when ``curve_keys``). The caller closes them."""
    import zmq

    socks = []
    for kind, port in ((zmq.DEALER, info["shell_port"]), (zmq.SUB, info["iopub_port"])):
        sock = ctx.socket(kind)
        sock.linger = 0
        if curve_keys:
            sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
            sock.curve_serverkey = zmq.curve_keypair()[0]
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(f"tcp://{info['ip']}:{port}")
        socks.append(sock)
    return socks[0], socks[1]


def send_signed_execute(shell: Any, info: dict[str, Any], code: str) -> None:
    """An execute_request signed with the kernel's HMAC key (which the keyless
    client is even given): only the transport's encryption keeps it out."""
    from jupyter_client.session import Session

    key = info["key"]
    session = Session(key=key.encode() if isinstance(key, str) else key)
    session.send(shell, session.msg("execute_request", {"code": code, "silent": False}))


def heard_within(seconds: float, *socks: Any) -> list[list[bytes]]:
    """Every message the sockets receive within ``seconds``."""
    heard = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sock in socks:
            if sock.poll(50):
                heard.append(sock.recv_multipart())
    return heard
