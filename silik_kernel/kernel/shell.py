"""The shell queue: requests read from the shell socket, run one at a time.

As ipykernel does, each shell message runs as a task in one shared context,
behind the one before it. What differs: the socket is read when its descriptor
signals, not through the ZMQStream (whose reading costs sugar calls and loop
callbacks per request), and a cell that arrives with nothing before it starts
at once, from the read callback (in connect mode its request leaves for the
sub-kernel before the loop turns).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from contextvars import copy_context
from typing import Any

import zmq

from silik_kernel.kernel.base import MainLoopKernel
from silik_kernel.protocol.wire import readable, recv_frames

log = logging.getLogger("silik.shell")

Cell = Coroutine[Any, Any, None]


class ShellQueue:
    """Shell messages in arrival order.

    ``take_cell(msg)`` returns a started cell (a coroutine that finishes it) or
    None for a message ipykernel should handle (``handle(msg)``); ``lock`` is the
    lock ipykernel's handlers hold, so a cell keeps the queue behind it;
    ``aborting()`` says the queue is being aborted after a failed cell.
    ``take_beside(msg)``, asked only while the queue is busy, returns a cell that
    runs at once beside the others (another frontend's `stop`), or None.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        take_cell: Callable[[Any], Cell | None],
        handle: Callable[[Any], Coroutine[Any, Any, Any]],
        lock: asyncio.Lock,
        aborting: Callable[[], bool],
        take_beside: Callable[[Any], Cell | None] = lambda msg: None,
    ) -> None:
        self.loop = loop
        self.take_cell = take_cell
        self.take_beside = take_beside
        self.handle = handle
        self.lock = lock
        self.aborting = aborting
        self.context = copy_context()  # what every shell message's task runs in
        self.queued = 0
        self._sock: zmq.Socket | None = None  # None: the stream reads
        self._stream: Any = None

    def read_from(self, stream: Any) -> None:
        """Read ``stream``'s socket when its descriptor signals; the stream still
        sends ipykernel's replies.

        The descriptor is edge-triggered: whatever reads the socket's EVENTS may
        spend the signal of a request arriving meanwhile. The stream reads them
        whenever it updates its state (after each send, in flush), and so do our
        sends: each time, look again.
        """
        self._stream = stream
        update = getattr(stream, "_update_handler", None)
        if update is None:  # another pyzmq: let the stream read, as ipykernel does
            stream.on_recv(self.on_message, copy=False)
            return
        self._sock = sock = stream.socket
        stream.stop_on_recv()

        def update_then_look(state: int) -> None:
            update(state)
            self.look()

        stream._update_handler = update_then_look
        self.loop.add_reader(sock.FD, self.read)
        self.loop.call_soon(self.read)  # what came before (its signal is spent)

    def look(self) -> None:
        """Schedule a read if a request is waiting (a send may have spent its signal)."""
        sock = self._sock
        if sock is None or sock.closed:
            return
        try:
            waiting = readable(sock)
        except zmq.ZMQError:
            return  # closing
        if waiting:
            self.loop.call_soon(self.read)

    def read(self, budget: int = 16) -> None:
        """Take the requests waiting on the shell socket (``budget`` per turn of the loop)."""
        sock = self._sock
        if sock is None:
            if self._stream is not None:
                self._stream.flush(zmq.POLLIN, limit=budget)
            return
        for _ in range(budget):
            try:
                if sock.closed or not readable(sock):
                    return
                frames = recv_frames(sock, copy=False)
            except zmq.ZMQError:
                return  # closing
            try:
                self.on_message(frames)
            except Exception:
                log.exception("handling a shell message")
        self.look()  # more: let the others run first

    def on_message(self, msg: list[Any]) -> None:
        """With nothing before it in the queue, a cell starts right now; its task
        then keeps the queue behind it until it is finished."""
        if self.queued == 0 and not self.aborting():
            try:
                cell = self.context.run(self.take_cell, msg)
            except RuntimeError:
                cell = None  # called from inside a shell task (a flush): take the queue
            if cell is not None:
                self.queue(self._hold(cell))
                return
        else:
            beside = self.take_beside(msg)
            if beside is not None:
                self.loop.create_task(beside)  # no lock: the queue is not behind it
                return
        self.queue(self.handle(msg))

    def read_all_waiting(self) -> None:
        """Every message waiting on the socket joins the queue now."""
        self.read(budget=1_000_000)

    def task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A task in the shell messages' shared context (their parent, their stdin ident)."""
        return self.loop.create_task(coro, context=self.context)

    def queue(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.queued += 1
        self.task(self._counted(coro))

    async def _hold(self, cell: Cell) -> None:
        async with self.lock:
            await cell

    async def _counted(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a queued message; the count drops as it ends (not a turn later, as a
        done callback would)."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shell message handler failed")
        finally:
            self.queued -= 1


class ShellQueueKernel(MainLoopKernel):
    """A main-loop kernel whose shell messages go through a :class:`ShellQueue`;
    a subclass says which messages are cells it starts itself (``_take_execute``)."""

    shell: ShellQueue

    def start(self) -> None:
        super().start()
        assert self._main_loop is not None
        self.shell = ShellQueue(
            self._main_loop,
            self._take_execute,
            lambda msg: self.shell_main(None, msg),
            self._main_asyncio_lock,
            lambda: self._aborting,
        )
        if self.shell_stream is not None:
            self.shell.read_from(self.shell_stream)

    def _take_execute(self, msg: Any) -> Cell | None:
        """A started cell for ``msg``, or None to leave it to ipykernel."""
        return None

    def _abort_queues(self, subshell_id: str | None = None) -> None:
        """After a failed cell, abort the cells already waiting behind it, and only those.

        ipykernel stops aborting one loop turn later, and a fast frontend's next cell
        (sent on seeing idle) could fall in that window. Here the end of aborting
        takes its place in the shell queue, behind every message waiting now.
        """
        self._aborting = True
        self.shell.read_all_waiting()

        async def stop_aborting() -> None:
            async with self._main_asyncio_lock:
                self._aborting = False

        self.shell.queue(stop_aborting())

    def abort_after(self, request: dict[str, Any], reply: dict[str, Any]) -> None:
        """After a failed cell (stop_on_error), abort the cells waiting behind it.

        Called before the frontend can see the cell finish: a cell it sends on
        seeing that is not among them.
        """
        content = request["content"]
        if (
            reply.get("status") == "error"
            and content.get("stop_on_error", True)
            and not content.get("silent", False)
        ):
            self._abort_queues()

    async def dispatch_shell(
        self, msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False
    ) -> None:
        """execute_request is ours (_take_execute); ipykernel handles the rest."""
        if not concurrent and not self._aborting:
            cell = self._take_execute(msg)
            if cell is not None:
                await cell
                return
        await super().dispatch_shell(msg, subshell_id=subshell_id, concurrent=concurrent)
