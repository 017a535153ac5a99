"""One execute_request in flight, as a stream of its messages.

Every consumer (a cell, connect mode's ``run``, fan-out, the service, an agent's
tool) reads a run through :class:`Execution` and differs only in what it does
with each message. The kernel that runs it routes the request's messages to
:meth:`Execution.sink`, on the per-message path.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from silik_kernel.errors import KernelDiedError, SilikError

Message = dict[str, Any]
Sink = Callable[[str, Message], None]  # (channel, message)
# (channel, msg_type, frames): frames are [signature, header, parent, metadata, content,
# *buffers] exactly as the kernel sent them; channel "died" carries a KernelDeath as msg_type.
RawSink = Callable[[str, Any, list[bytes]], None]


class KernelDeath:
    """What a waiting request's sink gets, on channel "died", when its kernel dies."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class ExecuteOptions:
    silent: bool = False
    store_history: bool = True
    allow_stdin: bool = False
    user_expressions: dict[str, str] = field(default_factory=dict)
    stop_on_error: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    def request_content(self, code: str) -> dict[str, Any]:
        """The content of an execute_request running ``code`` with these options."""
        return {
            "code": code,
            "silent": self.silent,
            "store_history": self.store_history,
            "user_expressions": self.user_expressions,
            "allow_stdin": self.allow_stdin,
            "stop_on_error": self.stop_on_error,
        }


class EarlyEnd(Protocol):
    """Does what the reader of an :class:`Execution` would do once its reply and idle
    are in, from the message callbacks (no turn of the loop, no unwinding first)."""

    def prepare(self, reply: Message) -> None:
        """The reply came before the idle: get ready (build, send nothing)."""

    def finish(self, pending: Sequence[tuple[str, Message]], reply: Message) -> bool:
        """Reply and idle are in, and the reader waits for its next message, with
        ``pending`` still to take: do what it would do at the end now and say True,
        or say False to leave it to the reader. Either way the reader gets
        ``pending``, then the reply."""
        ...


class RunningKernel(Protocol):
    """What an :class:`Execution` needs of the kernel that runs it."""

    kernel_id: str

    def input_reply(self, value: str) -> None: ...

    def forget(self, msg_id: str, late: Sink | None = None) -> None: ...


class Execution:
    """One execute_request, sent: its messages in order (``async for``), ending with
    ``("shell", execute_reply)`` once the reply and iopub idle have both arrived.

    The kernel's messages are collected as they arrive; the reader is woken only for
    what it has to act on (output, stdin, the end, a death), not for each status or
    execute_input: a cell costs fewer turns of the loop.
    """

    def __init__(self, sub: RunningKernel, late: Sink | None) -> None:
        self.sub = sub
        self.msg_id = ""
        self._late = late
        self._items: deque[tuple[str, Message]] = deque()
        self._reply: Message | None = None
        self._idle = False
        self._died: str | None = None
        self._waiter: asyncio.Future | None = None
        self._closed = False
        self._ended = False  # the reply was handed out
        #: how a death is told (the manager names the kernel)
        self.describe_death: Callable[[str], str] = str
        #: may end the reader's work from the message callbacks (see :class:`EarlyEnd`)
        self.early_end: EarlyEnd | None = None

    def sink(self, channel: str, msg: Message) -> None:
        if isinstance(msg, KernelDeath):
            self._died = msg.reason
        elif channel == "shell":
            if msg["header"]["msg_type"] != "execute_reply":
                return
            self._reply = msg
            if not self._idle:
                if self.early_end is not None:
                    self.early_end.prepare(msg)
                return
        elif channel == "iopub" and msg["header"]["msg_type"] == "status":
            if msg["content"].get("execution_state") != "idle":
                return
            self._idle = True
            if self._reply is None:
                return
        else:
            self._items.append((channel, msg))
            if msg["header"]["msg_type"] == "execute_input":
                return  # the next message or the end takes it along
        waiter = self._waiter
        if waiter is None:
            return  # the reader is busy elsewhere (or not reading yet): it will look
        early_end = self.early_end
        if early_end is not None and self._reply is not None and self._idle and not self._died:
            self.early_end = None
            if early_end.finish(self._items, self._reply):
                self.close()  # as the reader does on taking the reply
        if not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Execution:
        return self

    async def __anext__(self) -> tuple[str, Message]:
        # A class, not an async generator: a reader that stops at the reply leaves no
        # generator for asyncio to close later (its finalizer wakes the loop through
        # the self-pipe, on the way of every `run` cell's end).
        items = self._items
        while True:
            if items:
                return items.popleft()
            if self._ended:
                raise StopAsyncIteration
            if self._died is not None:
                raise KernelDiedError(self.describe_death(self._died), reason=self._died)
            if self._reply is not None and self._idle:
                # Anything later (threads, timers) goes to ``late`` from now on.
                self.close()
                self._ended = True
                return "shell", self._reply
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def drain(
        self,
        on_iopub: Callable[[Message], None],
        ask: Callable[[dict[str, Any]], Awaitable[str]] | None = None,
    ) -> dict[str, Any]:
        """Read the run to its end and return the reply's content: every IOPub message
        (outputs, comms, execute_input) goes to ``on_iopub``; an input request is
        answered by ``ask(content)``, or with "" when there is none to ask.

        The one reading loop of every consumer (a cell, fan-out, the service, an
        agent's tool): they differ only in what they do with a message.
        """
        try:
            async for channel, msg in self:
                if channel == "iopub":
                    on_iopub(msg)
                elif channel == "stdin":
                    if msg["header"]["msg_type"] == "input_request":
                        self.sub.input_reply(await ask(msg["content"]) if ask else "")
                elif channel == "shell":
                    return msg["content"]
        finally:
            self.close()
        raise SilikError("the kernel sent no reply", hint=None)

    def close(self) -> None:
        """Stop collecting: later messages go to ``late`` (or nowhere)."""
        if not self._closed:
            self._closed = True
            self.sub.forget(self.msg_id, self._late)
