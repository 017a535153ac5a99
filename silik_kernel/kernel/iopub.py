"""IOPub for the silik kernel: published from the thread that has the message.

ipykernel hands every IOPub message to a dedicated thread (a wake-up through an
inproc pipe, then a second thread taking the GIL) so that a busy user cell never
delays output. silik runs no user code: its main loop is never busy for long,
and every relayed message would pay that hop. :class:`DirectIOPub` keeps ipykernel's
interface (``background_socket``, ``send_multipart``, ``schedule``) but sends
on the spot, under a lock, from whichever thread calls (the main loop, or the
control thread for interrupt and shutdown replies). A lock is the full memory
barrier ZMQ asks for when a socket is used from more than one thread.

On the main loop a message waits for the end of the loop's turn and leaves with
the others of that turn: a cell's request reaches its sub-kernel first, and the
busy and execute_input that silik publishes for it follow a moment later,
without delaying it.

The socket is ipykernel's XPUB: each new subscription is answered with an
``iopub_welcome`` message (JEP 65), read on the main loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq
from ipykernel.iostream import BackgroundSocket

from silik_kernel.protocol.wire import readable, recv_frames, send_frames

log = logging.getLogger("silik.iopub")


class DirectIOPub:
    def __init__(self, socket: zmq.Socket, session: Any) -> None:
        self.socket: zmq.Socket | None = socket
        self.session = session
        self.background_socket = BackgroundSocket(self)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._batch: list[list[Any]] = []  # main-loop messages of this turn

    # -- ipykernel's IOPubThread interface --------------------------------
    def start(self) -> None:
        """Nothing to start: :meth:`watch` begins reading subscriptions."""

    def stop(self) -> None:
        self._send_batch()
        if self._loop is not None and self.socket is not None:
            try:
                self._loop.remove_reader(self.socket.FD)
            except Exception:
                pass  # the loop is already closed
            self._loop = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            if self.socket is not None:
                self.socket.close()
                self.socket = None

    @property
    def closed(self) -> bool:
        return self.socket is None

    def schedule(self, f: Callable[[], Any]) -> None:
        f()

    def send_multipart(self, msg: list[Any], *args: Any, **kwargs: Any) -> None:
        """Session.send's way in (its ``copy`` argument does not matter here)."""
        loop = self._loop
        if loop is not None and threading.get_ident() == self._loop_thread and loop.is_running():
            if not self._batch:
                loop.call_soon(self._send_batch)
            self._batch.append(msg)
            return
        self._send([msg])

    def send_now(self, msg: list[Any]) -> None:
        """From the main loop: send ``msg`` at once, after what waits for the turn's end."""
        batch, self._batch = self._batch, []
        batch.append(msg)
        self._send(batch)

    def flush(self) -> None:
        """Send what waits for the end of the turn now (before a reply: frontends such
        as jupyter console expect a cell's output before its reply, as ipykernel does)."""
        self._send_batch()

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            self._send(batch)

    def _send(self, batch: list[list[Any]]) -> None:
        with self._lock:
            if self.socket is None:
                return
            for msg in batch:
                send_frames(self.socket, msg)  # an XPUB never blocks
            # Sending can consume the descriptor's signal of a waiting subscription.
            waiting = readable(self.socket)
        if waiting and self._loop is not None:
            self._loop.call_soon_threadsafe(self._read_subscriptions)

    # -- subscriptions ---------------------------------------------------------
    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Answer subscriptions from ``loop`` (the kernel's main loop)."""
        if self.socket is None:
            return
        self._loop = loop
        self._loop_thread = threading.get_ident()
        loop.add_reader(self.socket.FD, self._read_subscriptions)
        loop.call_soon(self._read_subscriptions)

    def _read_subscriptions(self) -> None:
        events: list[bytes] = []
        with self._lock:
            if self.socket is None:
                return
            while readable(self.socket):
                events.extend(recv_frames(self.socket))
        for event in events:
            if event[:1] == b"\x01":  # subscribe (b"\x00" is unsubscribe)
                self._welcome(event[1:])

    def _welcome(self, topic: bytes) -> None:
        if not self.session:
            return
        try:
            subscription = topic.decode("utf-8")
        except UnicodeDecodeError:
            return
        msg = {
            "header": self.session.msg_header("iopub_welcome"),
            "parent_header": {},
            "metadata": {},
            "content": {"subscription": subscription},
            "buffers": [],
        }
        frames = self.session.serialize(msg)
        self.send_multipart([topic, *frames] if topic else frames)
