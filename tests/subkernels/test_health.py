"""KernelHealth: a death, the way back, and requests that wait for it (pure asyncio)."""

from __future__ import annotations

import asyncio

import pytest

from silik_kernel.errors import KernelDiedError
from silik_kernel.subkernels.health import KernelHealth
from silik_kernel.subkernels.routing import MessageRouter


def test_a_dead_kernel_fails_its_requests_and_refuses_new_ones_unless_recovering():
    router = MessageRouter()
    health = KernelHealth(router)
    failed: list[str] = []
    router.expect("a", lambda ch, msg: failed.append(msg.reason))
    health.check()
    health.mark_dead("it exited")
    assert failed == ["it exited"]
    assert router.execution_state == "dead"
    with pytest.raises(KernelDiedError, match="it exited"):
        health.check()
    health.recovering = True
    health.check()  # kernel_info may go to a kernel on its way back
    health.mark_alive()
    assert health.dead_reason is None and router.execution_state == "idle"


async def test_a_comeback_replaces_an_earlier_one_and_requests_wait_for_it():
    health = KernelHealth(MessageRouter())
    first_cancelled = asyncio.Event()
    go = asyncio.Event()

    async def first() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            first_cancelled.set()
            raise

    async def second() -> None:
        await go.wait()

    health.come_back(first())
    await asyncio.sleep(0)
    health.come_back(second())
    assert health.recovering and health.comeback is not None
    await asyncio.wait_for(first_cancelled.wait(), 5)
    assert health.recovering, "the cancelled attempt does not end the newer one"
    waiter = asyncio.ensure_future(health.wait_back(5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    go.set()
    await asyncio.wait_for(waiter, 5)
    assert not health.recovering and health.comeback is None


async def test_waiting_for_a_comeback_is_bounded():
    health = KernelHealth(MessageRouter())
    health.come_back(asyncio.sleep(30))
    with pytest.raises(KernelDiedError, match="did not come back within 0.1 s"):
        await health.wait_back(0.1)
    assert health.drop_comeback()
    assert health.comeback is None and not health.drop_comeback()
    assert health.recovering, "dropping leaves the flag to the caller"
