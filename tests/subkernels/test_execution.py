"""Execution against a real ipykernel: drain, the one reading loop, and the early end."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence

import pytest

from silik_kernel.errors import KernelDiedError
from silik_kernel.subkernels.execution import ExecuteOptions, Message
from silik_kernel.subkernels.subkernel import SubKernel

TIMEOUT = 30


@pytest.fixture
async def python():
    sub = await SubKernel.start("python3", timeout=60)
    try:
        yield sub  # no warm-up cell: the first cell may ask for input at once
    finally:
        await sub.shutdown(now=True)


def texts(messages: list[Message]) -> list[str]:
    return [m["content"]["text"] for m in messages if m["header"]["msg_type"] == "stream"]


async def test_outputs_reach_on_iopub_in_order_and_the_reply_content_is_returned(python):
    seen: list[Message] = []
    code = "for i in range(5): print(i, flush=True)\ndisplay('shown')\n40 + 2"
    run = python.begin_execute(code)
    reply = await asyncio.wait_for(run.drain(seen.append), TIMEOUT)
    assert reply["status"] == "ok"
    assert reply["execution_count"] >= 1
    kinds = [m["header"]["msg_type"] for m in seen]
    assert kinds[0] == "execute_input"
    assert "".join(texts(seen)) == "0\n1\n2\n3\n4\n"
    assert kinds.index("display_data") < kinds.index("execute_result")
    assert seen[-1]["content"]["data"]["text/plain"] == "42"
    assert all(m["parent_header"]["msg_id"] == run.msg_id for m in seen)


async def test_an_error_is_the_reply_content(python):
    seen: list[Message] = []
    reply = await asyncio.wait_for(python.begin_execute("1/0").drain(seen.append), TIMEOUT)
    assert reply["status"] == "error"
    assert reply["ename"] == "ZeroDivisionError"
    assert any(m["header"]["msg_type"] == "error" for m in seen)


async def test_an_input_request_is_answered_by_ask(python):
    asked: list[dict] = []

    async def ask(content: dict) -> str:
        asked.append(content)
        return "Ada"

    seen: list[Message] = []
    run = python.begin_execute(
        "name = input('who? ')\nprint('hello', name)", ExecuteOptions(allow_stdin=True)
    )
    reply = await asyncio.wait_for(run.drain(seen.append, ask), TIMEOUT)
    assert reply["status"] == "ok"
    assert [a["prompt"] for a in asked] == ["who? "]
    assert texts(seen) == ["hello Ada\n"]


async def test_a_started_kernel_has_seen_the_stdin_socket(python):
    """A kernel drops an input_request for a stdin peer it has not seen: start waits
    for the handshake, so input() in the very first cell reaches its asker."""
    assert python.channels is not None
    assert await python.channels.stdin_connected(timeout=0) is True


async def test_stdin_connected_says_no_when_nobody_answers():
    import socket

    from silik_kernel.subkernels.routing import MessageRouter
    from silik_kernel.subkernels.zmq_channels import ZmqChannels

    ports = []
    for _ in range(5):
        with socket.socket() as s:  # free ports nobody listens on
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    info = {
        "ip": "127.0.0.1",
        "transport": "tcp",
        "key": "k",
        **dict(zip(names, ports, strict=True)),
    }
    channels = ZmqChannels(info, MessageRouter())
    try:
        assert await channels.stdin_connected(timeout=0.3) is False
    finally:
        channels.close()


async def test_an_input_request_without_ask_gets_an_empty_answer(python):
    seen: list[Message] = []
    run = python.begin_execute(
        "name = input('who? ')\nprint(repr(name))", ExecuteOptions(allow_stdin=True)
    )
    reply = await asyncio.wait_for(run.drain(seen.append), TIMEOUT)
    assert reply["status"] == "ok"
    assert texts(seen) == ["''\n"]


async def test_a_kernel_that_dies_mid_run_raises_kernel_died(python):
    run = python.begin_execute("import time; time.sleep(30)")
    run.describe_death = lambda reason: f"k1 died: {reason}"
    await asyncio.sleep(0.5)
    assert python.pid is not None
    os.kill(python.pid, signal.SIGKILL)
    with pytest.raises(KernelDiedError, match="k1 died"):
        await asyncio.wait_for(run.drain(lambda msg: None), TIMEOUT)


async def test_late_output_goes_to_late_once_the_run_ended(python):
    late: list[Message] = []
    code = (
        "import threading, time\n"
        "def later():\n    time.sleep(0.3)\n    print('late', flush=True)\n"
        "threading.Thread(target=later).start()"
    )
    run = python.begin_execute(code, late=lambda channel, msg: late.append(msg))
    reply = await asyncio.wait_for(run.drain(lambda msg: None), TIMEOUT)
    assert reply["status"] == "ok"
    for _ in range(100):
        if texts(late):
            break
        await asyncio.sleep(0.05)
    assert texts(late) == ["late\n"]


class RecordingEnd:
    """An EarlyEnd that takes over the end when nothing is left to forward."""

    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.finished: list[tuple[list[str], str]] = []

    def prepare(self, reply: Message) -> None:
        self.prepared.append(reply["content"]["status"])

    def finish(self, pending: Sequence[tuple[str, Message]], reply: Message) -> bool:
        kinds = [m["header"]["msg_type"] for _, m in pending]
        self.finished.append((kinds, reply["content"]["status"]))
        return True


async def test_an_early_end_finishes_from_the_callbacks_and_the_reader_still_gets_the_reply(
    python,
):
    end = RecordingEnd()
    run = python.begin_execute("x = 1")
    run.early_end = end
    seen: list[Message] = []
    reply = await asyncio.wait_for(run.drain(seen.append), TIMEOUT)
    assert reply["status"] == "ok"
    assert len(end.finished) == 1
    pending, status = end.finished[0]
    assert status == "ok"
    assert pending == [m["header"]["msg_type"] for m in seen]  # what the reader got next
    assert run.early_end is None  # used once
