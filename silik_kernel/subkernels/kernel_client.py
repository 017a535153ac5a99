"""Requests to one kernel, whatever carries them.

:class:`KernelClient` builds a request in the kernel's own msg_id space, hands
it to the transport (ZMQ sockets, or a gateway's websocket), and registers
where its replies go with the kernel's :class:`MessageRouter`. The transport
is the only part that differs between a local and a remote kernel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from jupyter_client.session import Session

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.subkernels.execution import (
    ExecuteOptions,
    Execution,
    KernelDeath,
    Message,
    Sink,
)
from silik_kernel.subkernels.health import KernelHealth
from silik_kernel.subkernels.routing import MessageRouter


class Transport(Protocol):
    """What carries a kernel's messages; its session builds them (own msg_id space)."""

    session: Session

    def transmit(self, channel: str, msg: Message, buffers: list[bytes] | None) -> None:
        """Put a built message on the wire, or raise a SilikError saying why not."""


class KernelClient:
    """Sends requests to one kernel and hands back their replies.

    ``transport`` is None while the kernel is not connected.
    """

    def __init__(self, kernel_id: str, router: MessageRouter, health: KernelHealth) -> None:
        self.kernel_id = kernel_id
        self.router = router
        self.health = health
        self.transport: Transport | None = None
        self.forget = router.forget  # (an Execution's end: no extra call on the way)

    def send(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        *,
        sink: Sink | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
    ) -> str:
        """Send a request; every later message whose parent it is goes to ``sink``."""
        self.health.check()
        transport = self.transport
        if transport is None:
            raise KernelDiedError("the kernel is not connected")
        msg = transport.session.msg(msg_type, content, metadata=metadata)
        transport.transmit(channel, msg, buffers)
        msg_id = msg["header"]["msg_id"]
        if sink is not None:
            self.router.expect(msg_id, sink)
        return msg_id

    async def request(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        channel: str = "shell",
        timeout: float = 10.0,
    ) -> Message:
        """A shell/control request and its reply, e.g. complete_request."""
        if self.health.comeback is not None:
            await self.health.wait_back(timeout)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        reply_type = msg_type.replace("_request", "_reply")

        def sink(ch: str, msg: Message) -> None:
            if fut.done():
                return
            if isinstance(msg, KernelDeath):
                fut.set_exception(KernelDiedError(msg.reason))
            elif ch == channel and msg["header"]["msg_type"] == reply_type:
                fut.set_result(msg)

        msg_id = self.send(channel, msg_type, content, sink=sink)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise SilikError(
                f"the kernel did not answer {msg_type} within {timeout:g} s (it may be busy)",
                hint=None,
            ) from None
        finally:
            self.forget(msg_id)

    async def kernel_info(self, timeout: float) -> dict[str, Any]:
        """Ask kernel_info until both the shell reply and iopub traffic arrive; the
        reply's content.

        Seeing iopub status for our own request proves the SUB socket is
        subscribed, so no output of the first cell can be lost (slow joiner).
        """
        health = self.health
        deadline = time.monotonic() + timeout
        reply: asyncio.Future = asyncio.get_running_loop().create_future()
        got_iopub = asyncio.Event()
        sent: list[str] = []

        def sink(channel: str, msg: Message) -> None:
            if isinstance(msg, KernelDeath):
                if not reply.done() and not health.recovering:
                    reply.set_exception(KernelDiedError(msg.reason))
            elif channel == "iopub":
                got_iopub.set()
            elif msg["header"]["msg_type"] == "kernel_info_reply" and not reply.done():
                reply.set_result(msg)

        try:
            while True:
                if health.dead_reason and not health.recovering:
                    raise KernelDiedError(f"kernel died while starting: {health.dead_reason}")
                # A reply to any of the requests counts: a busy machine answers late.
                sent.append(self.send("shell", "kernel_info_request", {}, sink=sink))
                try:
                    await asyncio.wait_for(asyncio.shield(reply), 0.5)
                    await asyncio.wait_for(got_iopub.wait(), 0.5)
                    if self.router.execution_state == "starting":
                        self.router.execution_state = "idle"
                    return reply.result()["content"]
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise SilikError(f"kernel did not answer within {timeout:.0f} s", hint=None)
        finally:
            for msg_id in sent:
                self.forget(msg_id)

    async def execute(
        self,
        code: str,
        options: ExecuteOptions | None = None,
        *,
        late: Sink | None = None,
    ) -> AsyncIterator[tuple[str, Message]]:
        """Run ``code``; yield ``(channel, message)`` for this request, in order.

        Yields the iopub messages other than status (execute_input, outputs),
        stdin ``input_request`` messages (answer with :meth:`input_reply`), and
        last the shell ``execute_reply``. Finishes when both the reply and iopub
        ``idle`` have arrived. Raises KernelDiedError if the kernel dies
        meanwhile. Messages that arrive after the end (output of background
        threads) go to ``late``.
        """
        await self.health.wait_back()
        run = self.begin_execute(code, options, late=late)
        try:
            async for item in run:
                yield item
        finally:
            run.close()

    def begin_execute(
        self,
        code: str,
        options: ExecuteOptions | None = None,
        *,
        late: Sink | None = None,
    ) -> Execution:
        """Send an execute_request now; iterate the result for its messages (as :meth:`execute`)."""
        opts = options or ExecuteOptions()
        run = Execution(self, late)
        content = opts.request_content(code)
        run.msg_id = self.send(
            "shell", "execute_request", content, sink=run.sink, metadata=opts.metadata
        )
        return run

    def input_reply(self, value: str) -> None:
        self.send("stdin", "input_reply", {"value": value})
