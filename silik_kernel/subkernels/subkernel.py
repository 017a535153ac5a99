"""Everything about talking to ONE Jupyter kernel.

A ``SubKernel`` owns (or attaches to) one kernel and keeps one persistent client
with its own ZMQ identity and its own msg_id space. Reader tasks receive every
message of every channel and route it by ``parent_header.msg_id`` to whoever
sent the request; that is the only routing in silik.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets.config import Config

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.protocol.wire import (
    DELIM,
    NOBLOCK,
    RELAY_HWM,
    LeanSession,
    Signer,
    loads,
    msg_type_of,
    readable,
    recv_frames,
    send_frames,
    signer,
    state_of,
    unpack,
)

log = logging.getLogger("silik.subkernel")

Message = dict[str, Any]
Sink = Callable[[str, Message], None]  # (channel, message)
# (channel, msg_type, frames): frames are [signature, header, parent, metadata, content,
# *buffers] exactly as the kernel sent them; channel "died" carries a _Died as msg_type.
RawSink = Callable[[str, Any, list[bytes]], None]

WATCH_INTERVAL = 0.3  # seconds between liveness checks: a dead kernel fails a cell within ~2 s
LATE_SINKS = 2048  # finished requests whose late output is still routed to their cell


class _Died:
    """Queue sentinel: the kernel died while a request was waiting."""

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


@lru_cache(maxsize=256)  # a cell's id is quoted when it is sent and when it is done
def _quoted(msg_id: str) -> bytes:
    """``msg_id`` as it appears in a JSON header."""
    return json.dumps(msg_id).encode()


class Ender(Protocol):
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


class Execution:
    """One execute_request, sent: its messages in order (``async for``), ending with
    ``("shell", execute_reply)`` once the reply and iopub idle have both arrived.

    The kernel's messages are collected as they arrive; the reader is woken only for
    what it has to act on (output, stdin, the end, a death), not for each status or
    execute_input: a cell costs fewer turns of the loop.
    """

    def __init__(self, sub: SubKernel, late: Sink | None) -> None:
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
        #: may end the reader's work from the message callbacks (see :class:`Ender`)
        self.ender: Ender | None = None

    def sink(self, channel: str, msg: Message) -> None:
        if isinstance(msg, _Died):
            self._died = msg.reason
        elif channel == "shell":
            if msg["header"]["msg_type"] != "execute_reply":
                return
            self._reply = msg
            if not self._idle:
                if self.ender is not None:
                    self.ender.prepare(msg)
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
        ender = self.ender
        if ender is not None and self._reply is not None and self._idle and not self._died:
            self.ender = None
            if ender.finish(self._items, self._reply):
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
                raise KernelDiedError(self.describe_death(self._died))
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
            self.sub._forget(self.msg_id, self._late)


class SubKernel:
    """One kernel plus one persistent client.

    Build with :meth:`start` (silik owns the process) or :meth:`attach` (a kernel
    someone else started; silik never shuts it down).
    """

    #: :meth:`forward_raw` works: the transport carries signed ZMQ frames.
    raw_frames = True

    def __init__(
        self,
        kernel_id: str,
        connection_info: dict[str, Any],
        *,
        manager: AsyncIOLoopKernelManager | None = None,
        spec_name: str = "",
        language: str = "",
        connection_file: str = "",
    ) -> None:
        self.kernel_id = kernel_id
        self.km = manager
        self.owned = manager is not None
        self.spec_name = spec_name
        self.language = language
        self.connection_file = connection_file
        self.connection_info = connection_info
        self.kernel_info: dict[str, Any] = {}
        self.execution_state = "starting"
        self.dead_reason: str | None = None
        self.restarted_unseen = False  # state lost in an automatic restart, not yet told
        self.started_at = time.time()
        self.on_unrouted: Sink | None = None  # iopub/comm traffic nobody asked for
        self._sinks: OrderedDict[str, Sink] = OrderedDict()
        self._late: OrderedDict[str, Sink] = OrderedDict()
        self._raw: dict[bytes, RawSink] = {}  # by the request's msg_id, as a JSON string
        self._raw_late: OrderedDict[str, RawSink] = OrderedDict()
        self._tasks: list[asyncio.Task] = []
        self._client: AsyncKernelClient | None = None
        self._sockets: dict[str, zmq.Socket] = {}
        self._owned_sockets: dict[str, zmq.asyncio.Socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._restarting = False
        self._restart_task: asyncio.Task | None = None  # reconnecting after an automatic restart
        self.log_path = ""
        self._log_file: Any = None

    # -- construction ------------------------------------------------------
    @classmethod
    async def start(
        cls,
        spec_name: str,
        *,
        kernel_spec_manager: Any = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 60.0,
        kernel_id: str | None = None,
    ) -> SubKernel:
        kernel_id = kernel_id or uuid.uuid4().hex
        config = Config()
        # Poll faster than the default 3 s so an automatic restart follows a death quickly.
        config.AsyncIOLoopKernelRestarter.time_to_dead = 1.0
        extra = {"kernel_spec_manager": kernel_spec_manager} if kernel_spec_manager else {}
        km = AsyncIOLoopKernelManager(kernel_name=spec_name, config=config, **extra)
        km.shutdown_wait_time = 3.0
        try:
            spec = km.kernel_spec
        except Exception as exc:  # NoSuchKernel and friends
            raise SilikError(
                f"unknown kernelspec {spec_name!r}",
                hint="`kernels` lists what is installed",
            ) from exc
        runtime = jupyter_runtime_dir()
        os.makedirs(runtime, exist_ok=True)
        # A findable connection file: `jupyter console --existing kernel-silik-ID.json` works.
        km.connection_file = os.path.join(runtime, f"kernel-silik-{kernel_id}.json")
        # The kernel's own stdout/stderr (log lines, crash messages) go to a log file,
        # not into the frontend's terminal; its tail explains a failed start.
        log_path = os.path.join(runtime, f"kernel-silik-{kernel_id}.log")
        log_file = open(log_path, "ab")  # noqa: SIM115 - closed in shutdown
        kw: dict[str, Any] = {"stdout": log_file, "stderr": log_file}
        if env is not None:
            kw["env"] = {**os.environ, **env}
        if cwd:
            kw["cwd"] = cwd
        try:
            await km.start_kernel(**kw)
        except Exception as exc:
            log_file.close()
            _remove(log_path)
            raise SilikError(f"kernel {spec_name!r} failed to start: {exc}", hint=None) from exc
        sk = cls(
            kernel_id,
            km.get_connection_info(session=False),
            manager=km,
            spec_name=spec_name,
            language=spec.language if spec else "",
            connection_file=km.connection_file,
        )
        sk.log_path = log_path
        sk._log_file = log_file
        km.add_restart_callback(sk._on_auto_restart, "restart")
        km.add_restart_callback(sk._on_restart_failed, "dead")
        try:
            await sk._connect(timeout)
        except BaseException as exc:
            tail = sk.log_tail()
            await sk.shutdown(now=True)
            if isinstance(exc, SilikError) and tail:
                raise SilikError(f"{exc.message}\nkernel output:\n{tail}", exc.hint) from exc
            raise
        return sk

    def log_tail(self, lines: int = 15) -> str:
        """The end of the kernel's own output, to explain a failure."""
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read()[-8000:].decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [ln for ln in text.splitlines() if "TCP without encryption" not in ln]
        return "\n".join(kept[-lines:])

    @classmethod
    async def attach(cls, connection_file: str, timeout: float = 10.0) -> SubKernel:
        try:
            with open(connection_file) as f:
                info = json.load(f)
        except OSError as exc:
            raise SilikError(
                f"cannot read connection file {connection_file}: {exc.strerror}",
                hint="give the path of a kernel-*.json file of a running kernel",
            ) from exc
        except ValueError as exc:
            raise SilikError(f"{connection_file} is not a JSON connection file", hint=None) from exc
        if not isinstance(info, dict) or "shell_port" not in info:
            raise SilikError(f"{connection_file} is not a kernel connection file", hint=None)
        sk = cls(uuid.uuid4().hex, info, connection_file=os.path.abspath(connection_file))
        try:
            await sk._connect(timeout)
        except BaseException:
            await sk.close()
            raise
        sk.language = sk.kernel_info.get("language_info", {}).get("name", "")
        return sk

    def _new_client(self) -> AsyncKernelClient:
        info = self.connection_info
        key = info.get("key", b"")
        if isinstance(key, str):
            key = key.encode()
        # Own session: own ZMQ identity (ROUTER_HANDOVER) and own msg_id space.
        session = LeanSession(
            key=key,
            signature_scheme=info.get("signature_scheme", "hmac-sha256"),
            session=uuid.uuid4().hex,
            username="silik",
        )
        client = AsyncKernelClient(session=session, context=_relay_context())
        client.load_connection_info(info)
        return client

    async def _connect(self, timeout: float) -> None:
        self._client = client = self._new_client()
        self._signer = signer(client.session)
        # The kernel sends input_request to the stdin socket whose ZMQ identity is the
        # requesting shell socket's: both must carry the session's identity.
        identity = client.session.bsession
        self._owned_sockets = {
            "shell": client.connect_shell(identity=identity),
            "iopub": client.connect_iopub(),
            "stdin": client.connect_stdin(identity=identity),
            "control": client.connect_control(identity=identity),
        }
        # Used through plain (blocking-API) views, read by _drain when their descriptor
        # signals: much less work per message than zmq.asyncio's futures.
        self._sockets = {
            name: zmq.Socket.shadow(sock.underlying) for name, sock in self._owned_sockets.items()
        }
        self._loop = loop = asyncio.get_running_loop()
        for name, sock in self._sockets.items():
            loop.add_reader(sock.FD, self._drain, name, sock)
            loop.call_soon(self._drain, name, sock)
        self._tasks = [asyncio.ensure_future(self._watch())]
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float) -> None:
        """Ask kernel_info until both the shell reply and iopub traffic arrive.

        Seeing iopub status for our own request proves the SUB socket is
        subscribed, so no output of the first cell can be lost (slow joiner).
        """
        deadline = time.monotonic() + timeout
        reply: asyncio.Future = asyncio.get_running_loop().create_future()
        got_iopub = asyncio.Event()
        sent: list[str] = []

        def sink(channel: str, msg: Message) -> None:
            if isinstance(msg, _Died):
                if not reply.done() and not self._restarting:
                    reply.set_exception(KernelDiedError(msg.reason))
            elif channel == "iopub":
                got_iopub.set()
            elif msg["header"]["msg_type"] == "kernel_info_reply" and not reply.done():
                reply.set_result(msg)

        try:
            while True:
                if self.dead_reason and not self._restarting:
                    raise KernelDiedError(f"kernel died while starting: {self.dead_reason}")
                # A reply to any of the requests counts: a busy machine answers late.
                sent.append(self.send("shell", "kernel_info_request", {}, sink=sink))
                try:
                    await asyncio.wait_for(asyncio.shield(reply), 0.5)
                    await asyncio.wait_for(got_iopub.wait(), 0.5)
                    self.kernel_info = reply.result()["content"]
                    if self.execution_state == "starting":
                        self.execution_state = "idle"
                    return
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise SilikError(f"kernel did not answer within {timeout:.0f} s", hint=None)
        finally:
            for msg_id in sent:
                self._forget(msg_id)

    # -- routing -----------------------------------------------------------
    def _drain(self, channel: str, sock: zmq.Socket, budget: int = 64) -> None:
        """Read what ``sock`` holds (at most ``budget`` messages per turn of the loop).

        A ZMQ descriptor is edge-triggered: it signals once, and only reading until
        ``EVENTS`` says empty re-arms it. Sending can consume the signal too, so every
        send re-checks (:meth:`_sent`).
        """
        if self._closing or self._sockets.get(channel) is not sock:
            return  # closed meanwhile
        check = self._signer
        for _ in range(budget):
            try:
                if not readable(sock):
                    return
                frames = recv_frames(sock)
            except zmq.ZMQError:
                return  # closing, or nothing after all
            try:
                self._receive(channel, check, frames)
            except Exception:
                log.warning("dropping an invalid message on %s", channel, exc_info=True)
            if self._closing or self._sockets.get(channel) is not sock:
                return
        assert self._loop is not None
        self._loop.call_soon(self._drain, channel, sock)  # more: let the others run first

    def _sent(self, channel: str) -> None:
        sock = self._sockets[channel]
        if self._loop is not None and readable(sock):
            self._loop.call_soon(self._drain, channel, sock)

    def _receive(self, channel: str, check: Signer, frames: list[bytes]) -> None:
        """Check one message and route it (wire.py: dates stay strings, and a
        relayed message keeps the bytes it came as)."""
        parts = frames[frames.index(DELIM) + 1 :]
        if len(parts) < 5:
            raise ValueError(f"a message of {len(parts)} frames")
        if not check.check(parts):
            raise ValueError("invalid or replayed signature")
        # A request in flight frame for frame (a pass-through cell, mostly one) is
        # found in the parent header's bytes, its msg_id in quotes (ids such as
        # "s_1_1" and "s_1_12" share a prefix): nothing to decode on the way.
        for quoted, raw in self._raw.items():
            if quoted in parts[2]:
                self._to_raw(raw, channel, msg_type_of(parts[1]), parts)
                return
        header = loads(parts[1])
        parent = loads(parts[2])
        parent_id = parent.get("msg_id")
        if isinstance(parent_id, str):
            # (a msg_id written otherwise than json.dumps writes it is found here)
            raw = self._raw.get(_quoted(parent_id)) or self._raw_late.get(parent_id)
            if raw is not None:
                self._to_raw(raw, channel, str(header.get("msg_type", "")), parts)
                return
        msg = unpack(parts, header, parent)
        # The signed content as it came: relaying it needs no second JSON encoding.
        msg["raw_content"] = parts[4]
        self._route(channel, msg)

    def _to_raw(self, raw: RawSink, channel: str, msg_type: str, parts: list[bytes]) -> None:
        if msg_type == "status" and channel == "iopub":
            self.execution_state = state_of(parts[4])
        raw(channel, msg_type, parts)

    def _note_status(self, parent: dict[str, Any], content: dict[str, Any]) -> None:
        # Busy means running code: kernel_info or completion requests do not count.
        # Statuses without a parent are the kernel's own (starting, a gateway's restarting).
        if parent.get("msg_type") in (None, "execute_request"):
            self.execution_state = content.get("execution_state", self.execution_state)

    def _route(self, channel: str, msg: Message) -> None:
        parent = msg.get("parent_header") or {}
        if msg["header"]["msg_type"] == "status" and channel == "iopub":
            self._note_status(parent, msg["content"])
        parent_id = parent.get("msg_id")
        sink = self._sinks.get(parent_id) if parent_id else None
        if sink is None and parent_id:
            sink = self._late.get(parent_id)
        if sink is not None:
            sink(channel, msg)
        elif self.on_unrouted is not None and channel == "iopub":
            self.on_unrouted(channel, msg)

    def _forget(self, msg_id: str, late: Sink | None = None) -> None:
        self._sinks.pop(msg_id, None)
        if late is not None:
            _keep(self._late, msg_id, late)

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
        self._check_alive()
        assert self._client is not None
        msg = self._client.session.msg(msg_type, content, metadata=metadata)
        msg_id = msg["header"]["msg_id"]
        if sink is not None:
            self._sinks[msg_id] = sink
        frames = self._client.session.serialize(msg)
        if buffers:
            frames.extend(buffers)
        self._send(channel, frames)
        return msg_id

    def _send(self, channel: str, frames: list[Any]) -> None:
        try:
            send_frames(self._sockets[channel], frames, NOBLOCK)
        except zmq.Again:
            raise SilikError(
                f"the kernel is not reading its messages ({RELAY_HWM:,} are waiting)", hint=None
            ) from None
        # Sending can consume the edge-triggered read signal of a message arriving
        # at that moment (this once hung a cell): look for one.
        self._sent(channel)

    def forward_raw(self, channel: str, frames: list[bytes], msg_id: str, sink: RawSink) -> None:
        """Send a frontend's request as it came (``frames`` = header, parent, metadata,
        content, *buffers), signed with this kernel's key.

        The kernel's messages for it keep the frontend's request as their parent;
        each one reaches ``sink`` as its raw frames, ready to be re-signed and passed on.
        """
        self._check_alive()
        assert self._client is not None
        self._raw[_quoted(msg_id)] = sink
        signature = self._signer.sign(frames[:4])
        self._send(channel, [DELIM, signature, *frames])

    def forget_raw(self, msg_id: str, late: RawSink | None = None) -> None:
        self._raw.pop(_quoted(msg_id), None)
        if late is not None:
            _keep(self._raw_late, msg_id, late)

    def _request_future(
        self,
        msg_type: str,
        content: dict[str, Any],
        channel: str,
    ) -> tuple[str, asyncio.Future]:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        reply_type = msg_type.replace("_request", "_reply")

        def sink(ch: str, msg: Message) -> None:
            if fut.done():
                return
            if isinstance(msg, _Died):
                fut.set_exception(KernelDiedError(msg.reason))
            elif ch == channel and msg["header"]["msg_type"] == reply_type:
                fut.set_result(msg)

        msg_id = self.send(channel, msg_type, content, sink=sink)
        return msg_id, fut

    async def request(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        channel: str = "shell",
        timeout: float = 10.0,
    ) -> Message:
        """A shell/control request and its reply, e.g. complete_request."""
        if self._restart_task is not None:
            await self.wait_restarted(timeout)
        msg_id, fut = self._request_future(msg_type, content, channel)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise SilikError(
                f"the kernel did not answer {msg_type} within {timeout:g} s (it may be busy)",
                hint=None,
            ) from None
        finally:
            self._forget(msg_id)

    # -- execution ---------------------------------------------------------
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
        await self.wait_restarted()
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
        content = {
            "code": code,
            "silent": opts.silent,
            "store_history": opts.store_history,
            "user_expressions": opts.user_expressions,
            "allow_stdin": opts.allow_stdin,
            "stop_on_error": opts.stop_on_error,
        }
        run = Execution(self, late)
        run.msg_id = self.send(
            "shell", "execute_request", content, sink=run.sink, metadata=opts.metadata
        )
        return run

    def input_reply(self, value: str) -> None:
        self.send("stdin", "input_reply", {"value": value})

    # -- lifecycle ---------------------------------------------------------
    def _check_alive(self) -> None:
        if self.dead_reason and not self._restarting:
            raise KernelDiedError(self.dead_reason)
        if self._client is None:
            raise KernelDiedError("the kernel is not connected")

    def _fail_pending(self, reason: str) -> None:
        died = _Died(reason)
        for sink in list(self._sinks.values()):
            try:
                sink("died", died)  # type: ignore[arg-type]
            except Exception:
                log.exception("failing a pending request")
        self._sinks.clear()
        for raw in list(self._raw.values()):
            try:
                raw("died", died, [])
            except Exception:
                log.exception("failing a pending request")
        self._raw.clear()

    async def is_alive(self) -> bool:
        if self.km is not None:
            return bool(await self.km.is_alive())
        assert self._client is not None
        # Attached kernels: the heartbeat channel is the only signal we have.
        return await self._heartbeat()

    async def _heartbeat(self, timeout: float = 1.0) -> bool:
        assert self._client is not None
        sock = getattr(self, "_hb", None)
        if sock is None:
            sock = self._hb = zmq.asyncio.Context.instance().socket(zmq.REQ)
            sock.linger = 0
            sock.connect(self._client._make_url("hb"))
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

    async def _watch(self) -> None:
        """Detect a death within WATCH_INTERVAL and fail the requests that wait on it."""
        misses = 0
        while not self._closing:
            await asyncio.sleep(WATCH_INTERVAL if self.km is not None else 0.5)
            if self._closing or self._restarting:
                continue
            try:
                alive = await self.is_alive()
            except Exception:
                alive = False
            if alive:
                misses = 0  # back from an automatic restart only once _after_auto_restart says so
                continue
            misses += 1
            if self.km is None and misses < 2:
                continue  # one lost heartbeat is not a death
            if self.dead_reason is None:
                code = None
                if self.km is not None and self.km.provisioner is not None:
                    code = await self.km.provisioner.poll()
                reason = "the kernel process exited" + (f" (exit code {code})" if code else "")
                if self.km is None:
                    reason = "the kernel stopped answering its heartbeat"
                self.dead_reason = reason
                self.execution_state = "dead"
                self._fail_pending(reason)

    def _on_auto_restart(self) -> None:
        """jupyter_client is restarting the dead kernel: its state is gone."""
        if not self.kernel_info:
            # It died before it ever answered: fail the start (with its log), do not retry.
            self.dead_reason = "the kernel process exited"
            self._fail_pending(self.dead_reason)
            return
        self.restarted_unseen = True
        reason = "the kernel died and is being restarted automatically (its state is lost)"
        if self.dead_reason is None:
            self.dead_reason = reason
        # Also when it died again while coming back: nothing sent meanwhile will be answered.
        self._fail_pending(self.dead_reason)
        self.execution_state = "restarting"
        # Until the new process answers on every channel, nothing may be sent to it:
        # output of a request sent before the iopub subscription is back would be lost.
        self._restarting = True
        if self._restart_task is not None:  # it died again while coming back
            self._restart_task.cancel()
        self._restart_task = asyncio.ensure_future(self._after_auto_restart())

    async def _after_auto_restart(self) -> None:
        """Reconnect (the restarter may pick new ports) and wait until the kernel answers."""
        try:
            for _ in range(100):
                await asyncio.sleep(0.2)
                if self.km is not None and await self.km.is_alive():
                    break
            info = self.km.get_connection_info(session=False) if self.km else {}
            if info and info != self.connection_info:
                self.connection_info = info
                await self._reconnect()  # waits until ready
            else:
                await self.wait_ready(30)
            self.dead_reason = None
            self.execution_state = "idle"
        except Exception:
            log.exception("kernel %s did not come back after an automatic restart", self.kernel_id)
            self.execution_state = "dead"
        finally:
            if self._restart_task is asyncio.current_task():
                self._restarting = False
                self._restart_task = None

    @property
    def restarting(self) -> bool:
        """Coming back from an automatic restart (requests wait: :meth:`wait_restarted`)."""
        return self._restart_task is not None

    async def wait_restarted(self, timeout: float = 30.0) -> None:
        """Let an automatic restart in progress finish before sending a request.

        A kernel that dies again while coming back gets a new restart task: wait
        for that one too, but never longer than ``timeout`` in all.
        """
        deadline = time.monotonic() + timeout
        while (task := self._restart_task) is not None and not task.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelDiedError(f"the kernel did not come back within {timeout:g} s")
            await asyncio.wait({task}, timeout=remaining)

    def _on_restart_failed(self) -> None:
        if self._restart_task is not None:
            self._restart_task.cancel()
        self._restarting = False
        self.dead_reason = "the kernel died and could not be restarted automatically"
        self.execution_state = "dead"
        self._fail_pending(self.dead_reason)

    async def _reconnect(self) -> None:
        self._fail_pending("the kernel was restarted")  # sent to the old ports: never answered
        await self._close_client()
        self._closing = False
        await self._connect(30)

    async def interrupt(self) -> None:
        if self.dead_reason:
            raise KernelDiedError(self.dead_reason)
        if self.km is not None:
            await self.km.interrupt_kernel()
            return
        # An attached kernel: we know no process to signal, so use the message mode.
        self.send("control", "interrupt_request", {})

    async def restart(self, timeout: float = 60.0) -> None:
        if self.km is None:
            raise SilikError(
                "silik attached to this kernel and does not manage its process: it cannot restart it",
                hint="restart it from where it was started",
            )
        self._restarting = True
        try:
            self._fail_pending("the kernel was restarted")
            await self.km.restart_kernel(now=False)
            info = self.km.get_connection_info(session=False)
            if info != self.connection_info:
                self.connection_info = info
                await self._reconnect()
            self.dead_reason = None
            self.execution_state = "starting"
            await self.wait_ready(timeout)
        finally:
            self._restarting = False
        self.restarted_unseen = False

    async def _close_client(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:
                pass
        self._tasks = []
        for sock in self._sockets.values():
            if self._loop is not None:
                self._loop.remove_reader(sock.FD)
        self._sockets = {}
        for owner in self._owned_sockets.values():
            owner.close(linger=0)
        self._owned_sockets = {}
        hb = getattr(self, "_hb", None)
        if hb is not None:
            hb.close(linger=0)
            self._hb = None
        self._client = None

    async def close(self) -> None:
        """Forget the kernel without stopping it (attached kernels)."""
        self._fail_pending("silik closed its connection to the kernel")
        await self._close_client()

    async def shutdown(self, now: bool = False) -> None:
        """Stop an owned kernel and remove its connection file; detach otherwise."""
        if self._restart_task is not None:
            self._restart_task.cancel()
        self._fail_pending("the kernel was stopped")
        await self._close_client()
        if self.km is not None:
            self.km.stop_restarter()
            if await self.km.is_alive():
                await self.km.shutdown_kernel(now=now)
            else:
                await self.km.cleanup_resources()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            _remove(self.log_path)
        self.execution_state = "dead"
        self.dead_reason = "the kernel was stopped"

    @property
    def pid(self) -> int | None:
        if self.km is None or self.km.provisioner is None:
            return None
        proc = getattr(self.km.provisioner, "process", None)
        return getattr(proc, "pid", None)


def _keep(late: OrderedDict[str, Any], msg_id: str, sink: Any) -> None:
    """Route a finished request's late output to ``sink``, for the last LATE_SINKS ones."""
    late[msg_id] = sink
    while len(late) > LATE_SINKS:
        late.popitem(last=False)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
