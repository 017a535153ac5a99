"""One persistent ZMQ client of a local (or attached) kernel.

The client has its own session: its own ZMQ identity (ipykernel sets
ROUTER_HANDOVER on its shell socket, so two clients sharing an identity lose
replies) and its own msg_id space. Its sockets are read by event-loop callbacks
that check each message and hand it to the kernel's :class:`MessageRouter`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import lru_cache
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient

from silik_kernel.errors import SilikError
from silik_kernel.protocol.wire import (
    DELIM,
    NOBLOCK,
    RELAY_HWM,
    LeanSession,
    loads,
    msg_type_of,
    readable,
    recv_frames,
    send_frames,
    signer,
    unpack,
)
from silik_kernel.subkernels.routing import MessageRouter, quoted_id

log = logging.getLogger("silik.subkernel")

READ_BUDGET = 64  # messages one socket may read per turn of the loop before the others


#: what the stdin socket's monitor reports: the kernel has seen it, or lost it
STDIN_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
STDIN_WAIT = 5.0  # seconds a new connection's stdin handshake may take (a loaded machine)


@lru_cache(maxsize=1)
def _relay_context() -> zmq.asyncio.Context:
    """The context of every sub-kernel's sockets: one shared ZMQ context (a context
    per client would cost an I/O thread per kernel), whose sockets queue up to
    RELAY_HWM messages before they drop any."""
    shared = zmq.asyncio.Context.instance()
    context = zmq.asyncio.Context(shadow=shared.underlying)
    context.setsockopt(zmq.RCVHWM, RELAY_HWM)  # a default for the sockets it makes
    context.setsockopt(zmq.SNDHWM, RELAY_HWM)
    return context


def _new_client(info: dict[str, Any]) -> AsyncKernelClient:
    key = info.get("key", b"")
    if isinstance(key, str):
        key = key.encode()
    session = LeanSession(
        key=key,
        signature_scheme=info.get("signature_scheme", "hmac-sha256"),
        session=uuid.uuid4().hex,
        username="silik",
    )
    client = AsyncKernelClient(session=session, context=_relay_context())
    client.load_connection_info(info)
    return client


class ZmqChannels:
    """The shell, iopub, stdin and control sockets of one client, read as they signal.

    Build it inside the event loop that reads it; :meth:`close` it to stop.
    """

    def __init__(self, connection_info: dict[str, Any], router: MessageRouter) -> None:
        self.router = router
        self._client = client = _new_client(connection_info)
        self.session: LeanSession = client.session
        self._signer = signer(client.session)
        #: the signature of [header, parent, metadata, content] with the kernel's key
        self.sign = self._signer.sign
        # The kernel sends input_request to the stdin socket whose ZMQ identity is the
        # requesting shell socket's: both must carry the session's identity. stdin
        # connects first: the kernel's ROUTER drops a request to a peer it has not
        # seen connect yet, and the first cell may ask for input at once.
        identity = client.session.bsession
        stdin = client.connect_stdin(identity=identity)
        self._owned_sockets: dict[str, zmq.asyncio.Socket] = {
            "shell": client.connect_shell(identity=identity),
            "iopub": client.connect_iopub(),
            "stdin": stdin,
            "control": client.connect_control(identity=identity),
        }
        # Used through plain (blocking-API) views, read by _drain when their descriptor
        # signals: much less work per message than zmq.asyncio's futures.
        self._sockets: dict[str, zmq.Socket] = {
            name: zmq.Socket.shadow(sock.underlying) for name, sock in self._owned_sockets.items()
        }
        self._hb: zmq.asyncio.Socket | None = None
        self._reading = True
        self._loop = loop = asyncio.get_running_loop()
        for name, sock in self._sockets.items():
            loop.add_reader(sock.FD, self._drain, name, sock)
            loop.call_soon(self._drain, name, sock)
        # Connecting first is not enough under load: the shell's handshake can finish
        # before stdin's, and an input() in the first cell then waits forever. The
        # monitor says when the kernel has seen our stdin socket (again, after a restart).
        self._stdin_seen = asyncio.Event()
        monitor = stdin.get_monitor_socket(STDIN_EVENTS)
        self._stdin_monitor: tuple[zmq.asyncio.Socket, zmq.Socket] | None = (
            monitor,
            zmq.Socket.shadow(monitor.underlying),
        )
        loop.add_reader(monitor.FD, self._read_stdin_monitor)
        loop.call_soon(self._read_stdin_monitor)

    def _read_stdin_monitor(self) -> None:
        if self._stdin_monitor is None:
            return
        sock = self._stdin_monitor[1]
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:
                return
            event = int.from_bytes(frames[0][:2], "little")
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._stdin_seen.set()
            elif event == zmq.EVENT_DISCONNECTED:
                self._stdin_seen.clear()

    async def stdin_connected(self, timeout: float = STDIN_WAIT) -> bool:
        """Whether the kernel has seen our stdin socket: it drops an input_request
        for a peer it has not, and the cell asking for input would wait forever."""
        if self._stdin_seen.is_set():
            return True
        try:
            await asyncio.wait_for(self._stdin_seen.wait(), timeout)
        except TimeoutError:
            log.warning("the kernel's stdin socket did not answer in %.1f s", timeout)
            return False
        return True

    # -- reading ---------------------------------------------------------------
    def _drain(self, channel: str, sock: zmq.Socket, budget: int = READ_BUDGET) -> None:
        """Read what ``sock`` holds (at most ``budget`` messages per turn of the loop).

        A ZMQ descriptor is edge-triggered: it signals once, and only reading until
        ``EVENTS`` says empty re-arms it. Sending can consume the signal too, so every
        send re-checks (:meth:`send`).
        """
        if not self._reading or self._sockets.get(channel) is not sock:
            return  # closed meanwhile
        for _ in range(budget):
            try:
                if not readable(sock):
                    return
                frames = recv_frames(sock)
            except zmq.ZMQError:
                return  # closing, or nothing after all
            try:
                self._receive(channel, frames)
            except Exception:
                log.warning("dropping an invalid message on %s", channel, exc_info=True)
            if not self._reading or self._sockets.get(channel) is not sock:
                return
        self._loop.call_soon(self._drain, channel, sock)  # more: let the others run first

    def _receive(self, channel: str, frames: list[bytes]) -> None:
        """Check one message and route it (wire.py: dates stay strings, and a
        relayed message keeps the bytes it came as)."""
        parts = frames[frames.index(DELIM) + 1 :]
        if len(parts) < 5:
            raise ValueError(f"a message of {len(parts)} frames")
        if not self._signer.check(parts):
            raise ValueError("invalid or replayed signature")
        router = self.router
        # A request in flight frame for frame (a pass-through cell, mostly one) is
        # found in the parent header's bytes, its msg_id in quotes (ids such as
        # "s_1_1" and "s_1_12" share a prefix): nothing to decode on the way.
        for quoted, raw in router.raw.items():
            if quoted in parts[2]:
                router.to_raw(raw, channel, msg_type_of(parts[1]), parts)
                return
        header = loads(parts[1])
        parent = loads(parts[2])
        parent_id = parent.get("msg_id")
        if isinstance(parent_id, str):
            # (a msg_id written otherwise than json.dumps writes it is found here)
            raw = router.raw.get(quoted_id(parent_id)) or router.raw_late.get(parent_id)
            if raw is not None:
                router.to_raw(raw, channel, str(header.get("msg_type", "")), parts)
                return
        msg = unpack(parts, header, parent)
        # The signed content as it came: relaying it needs no second JSON encoding.
        msg["raw_content"] = parts[4]
        router.route(channel, msg)

    # -- sending ---------------------------------------------------------------
    def transmit(self, channel: str, msg: dict[str, Any], buffers: list[bytes] | None) -> None:
        """Send a message built by :attr:`session`, with its ``buffers``."""
        frames = self.session.serialize(msg)
        if buffers:
            frames.extend(buffers)
        self.send(channel, frames)

    def send(self, channel: str, frames: list[Any]) -> None:
        """Send serialized ``frames`` (identities, DELIM, signature, ...) on ``channel``."""
        sock = self._sockets[channel]
        try:
            send_frames(sock, frames, NOBLOCK)
        except zmq.Again:
            raise SilikError(
                f"the kernel is not reading its messages ({RELAY_HWM:,} are waiting)", hint=None
            ) from None
        # Sending can consume the edge-triggered read signal of a message arriving
        # at that moment: look for one.
        if readable(sock):
            self._loop.call_soon(self._drain, channel, sock)

    # -- heartbeat and closing -------------------------------------------------
    async def heartbeat(self, timeout: float = 1.0) -> bool:
        """Ping the heartbeat channel: True when the kernel answers within ``timeout``."""
        sock = self._hb
        if sock is None:
            sock = self._hb = self._client.connect_hb()
            sock.linger = 0
        try:
            await sock.send(b"ping")
            if await sock.poll(int(timeout * 1000)):
                await sock.recv()
                return True
        except zmq.ZMQError:
            pass
        sock.close(linger=0)
        self._hb = None
        return False

    def stop_reading(self) -> None:
        """Route nothing more, from now on."""
        self._reading = False

    def close(self) -> None:
        self._reading = False
        if self._stdin_monitor is not None:
            monitor, view = self._stdin_monitor
            self._stdin_monitor = None
            self._loop.remove_reader(view.FD)
            self._owned_sockets["stdin"].disable_monitor()
            monitor.close(linger=0)
        for sock in self._sockets.values():
            self._loop.remove_reader(sock.FD)
        self._sockets = {}
        for owner in self._owned_sockets.values():
            owner.close(linger=0)
        self._owned_sockets = {}
        if self._hb is not None:
            self._hb.close(linger=0)
            self._hb = None
