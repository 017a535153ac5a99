"""KernelClient against a real ipykernel: requests and their replies, and where they fail."""

from __future__ import annotations

import asyncio

import pytest

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.subkernels.health import KernelHealth
from silik_kernel.subkernels.kernel_client import KernelClient
from silik_kernel.subkernels.routing import MessageRouter
from silik_kernel.subkernels.subkernel import SubKernel


@pytest.fixture
async def python():
    sub = await SubKernel.start("python3", timeout=60)
    try:
        yield sub
    finally:
        await sub.shutdown(now=True)


async def test_a_request_gets_its_reply_and_leaves_no_sink_behind(python):
    reply = await python.request("complete_request", {"code": "impo", "cursor_pos": 4})
    assert reply["header"]["msg_type"] == "complete_reply"
    assert "import" in reply["content"]["matches"]
    assert python.kernel_info["language_info"]["name"] == "python"
    assert not python.router.sinks


async def test_a_request_nobody_answers_times_out_with_a_readable_error(python):
    busy = python.begin_execute("import time; time.sleep(3)")
    with pytest.raises(SilikError, match="did not answer execute_request within 0.2 s"):
        await python.request("execute_request", {"code": "1"}, timeout=0.2)
    assert (await asyncio.wait_for(busy.drain(lambda msg: None), 10))["status"] == "ok"


async def test_execute_yields_the_run_then_its_reply(python):
    items = [item async for item in python.execute("print('hi')")]
    assert items[-1][0] == "shell" and items[-1][1]["content"]["status"] == "ok"
    assert [m["content"]["text"] for ch, m in items if m["header"]["msg_type"] == "stream"] == [
        "hi\n"
    ]


def test_a_client_without_transport_or_with_a_dead_kernel_sends_nothing():
    router = MessageRouter()
    health = KernelHealth(router)
    client = KernelClient("k", router, health)
    with pytest.raises(KernelDiedError, match="not connected"):
        client.send("shell", "kernel_info_request", {})
    health.mark_dead("it exited")
    with pytest.raises(KernelDiedError, match="it exited"):
        client.input_reply("x")
