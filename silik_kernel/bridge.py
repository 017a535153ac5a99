"""The bridge: a parent silik serves its SilikManager to the agent kernels it starts.

Agent kernels started from a silik act on the parent's tree through it. Both
ends live here so they share one message schema.

Who may call: only an agent kernel the user started has credentials, each its
own: a random key bound to its kernel id, in a file (0600) that only that kernel
is told about (``SILIK_BRIDGE_FILE``). Every request names the kernel id and is
signed with that kernel's key (HMAC-SHA256); it carries a unique id and a
timestamp, so unsigned, forged, stale, replayed, oddly stamped or
other-kernel's-key requests are refused and logged. The caller is the kernel the
key belongs to, whatever process sends it, and the service holds that caller to
the policy silik read from the agent's config when it started it.

Transport: a ZMQ socket file in a directory only the user can enter (0700), so
no other user's process can reach it and no port is open.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Literal

import zmq
import zmq.asyncio
from pydantic import BaseModel, Field

from silik_kernel.agent_policy import BRIDGE_FILE_ENV, Caller, SilikSettings
from silik_kernel.asking import AskUser
from silik_kernel.errors import SilikError
from silik_kernel.service import ManagerService, ServiceError

log = logging.getLogger("silik.bridge")

MAX_SKEW = 120.0  # seconds a request may be old (or ahead) before it is refused
REPLAY_MEMORY = 10000
#: A client's word about a request it sent: not an operation, never answered.
CONTROL_OPS = frozenset({"cancel", "input_reply"})
_IPC_PATH_MAX = 100  # a socket file's path must fit in sockaddr_un (107 bytes on Linux)

__all__ = ["BRIDGE_FILE_ENV", "BridgeClient", "BridgeInfo", "BridgeRequest", "BridgeServer"]


class BridgeInfo(BaseModel):
    """One agent kernel's credentials: the content of its bridge file."""

    url: str
    kernel_id: str
    key: str
    signature_scheme: Literal["hmac-sha256"] = "hmac-sha256"
    pid: int = Field(default_factory=os.getpid)


class BridgeRequest(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    # A real, finite number: NaN would pass any "is it too old" comparison.
    ts: float = Field(default_factory=time.time, strict=True, allow_inf_nan=False)
    op: str
    args: dict[str, Any] = Field(default_factory=dict)


class BridgeFrame(BaseModel):
    """One answer frame: zero or more ``event`` frames, then one ``result`` or ``error``."""

    id: str
    kind: Literal["event", "result", "error"]
    data: Any = None


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode()


def _verify(key: bytes, signature: bytes, payload: bytes) -> bool:
    return hmac.compare_digest(_sign(key, payload), signature)


class BridgeServer:
    """Serves a ManagerService to agent kernels, concurrently with the kernel's cells."""

    def __init__(self, service: ManagerService, runtime_dir: str) -> None:
        self.service = service
        self.runtime_dir = runtime_dir
        self.dir = ""
        self.url = ""
        self.rejected = 0
        self._callers: dict[str, tuple[bytes, Caller]] = {}  # kernel id -> its key, itself
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._socket: zmq.asyncio.Socket | None = None
        self._task: asyncio.Task | None = None
        self._handlers: set[asyncio.Task] = set()
        self._running: dict[str, tuple[str, asyncio.Task]] = {}  # request id -> caller id, task
        self._answers: dict[str, asyncio.Future[str]] = {}  # request id -> its input's answer

    def start(self) -> None:
        """Bind the socket file in a private directory and start serving."""
        os.makedirs(self.runtime_dir, mode=0o700, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="silik-bridge-", dir=self.runtime_dir)
        if len(os.path.join(self.dir, "bridge")) > _IPC_PATH_MAX:
            os.rmdir(self.dir)  # a deep runtime dir: the system's temporary directory instead
            self.dir = tempfile.mkdtemp(prefix="silik-bridge-")
        sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        sock.linger = 0
        self.url = f"ipc://{os.path.join(self.dir, 'bridge')}"
        sock.bind(self.url)
        self._socket = sock
        self._task = asyncio.ensure_future(self._serve())

    def issue(self, kernel_id: str, policy: SilikSettings) -> str:
        """New credentials for the agent kernel ``kernel_id``, held to ``policy``;
        the path of the file (0600) that holds them."""
        key = secrets.token_hex(32)
        self._callers[kernel_id] = (key.encode(), Caller(kernel_id, policy))
        path = self._credentials_file(kernel_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(BridgeInfo(url=self.url, kernel_id=kernel_id, key=key).model_dump_json())
        return path

    def policy_of(self, kernel_id: str) -> SilikSettings | None:
        """The policy the agent kernel ``kernel_id`` is held to, if it has credentials."""
        known = self._callers.get(kernel_id)
        return known[1].policy if known is not None else None

    def _revoke(self, kernel_id: str) -> None:
        self._callers.pop(kernel_id, None)
        try:
            os.remove(self._credentials_file(kernel_id))
        except OSError:
            pass

    def _credentials_file(self, kernel_id: str) -> str:
        return os.path.join(self.dir, f"agent-{kernel_id}.json")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            for t in [self._task, *self._handlers]:
                t.cancel()
                try:
                    await t
                except BaseException:
                    pass
            self._task = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _accept(self, frames: list[bytes]) -> tuple[Caller, BridgeRequest] | None:
        if len(frames) != 4:
            log.warning("bridge: refused a malformed message (%d frames)", len(frames))
            return None
        _ident, kernel_id, signature, payload = frames
        known = self._callers.get(kernel_id.decode(errors="replace"))
        if known is None:
            log.warning("bridge: refused a message from an unknown kernel %r", kernel_id[:64])
            return None
        key, caller = known
        if not _verify(key, signature, payload):
            log.warning("bridge: refused a message with a bad signature (kernel %s)", caller.id)
            return None
        manager = self.service.manager
        # A kernel being stopped may still stop what it started (an agent's cleanup).
        if caller.id not in manager.records and caller.id not in manager.stopping:
            log.warning("bridge: refused kernel %s, which is no longer in the tree", caller.id)
            self._revoke(caller.id)
            return None
        try:
            req = BridgeRequest.model_validate_json(payload)
        except ValueError:
            log.warning("bridge: refused an invalid request (kernel %s)", caller.id)
            return None
        now = time.time()
        if not math.isfinite(req.ts) or abs(now - req.ts) > MAX_SKEW:
            log.warning("bridge: refused a stale request %s (kernel %s)", req.id, caller.id)
            return None
        if req.id in self._seen:
            log.warning("bridge: refused a replayed request %s (kernel %s)", req.id, caller.id)
            return None
        self._seen[req.id] = now
        while len(self._seen) > REPLAY_MEMORY or (
            self._seen and now - next(iter(self._seen.values())) > 2 * MAX_SKEW
        ):
            self._seen.popitem(last=False)
        return caller, req

    async def _serve(self) -> None:
        assert self._socket is not None
        while True:
            frames = await self._socket.recv_multipart()
            accepted = self._accept(frames)
            if accepted is None:
                self.rejected += 1
                continue
            caller, req = accepted
            if req.op in CONTROL_OPS:
                self._control(caller, req)
                continue
            task = asyncio.ensure_future(self._handle(frames[0], caller, req))
            self._handlers.add(task)
            self._running[req.id] = (caller.id, task)
            task.add_done_callback(self._handlers.discard)
            task.add_done_callback(lambda _, rid=req.id: self._running.pop(rid, None))

    def _control(self, caller: Caller, req: BridgeRequest) -> None:
        """A client's word about one of its own running requests: cancel it (its
        reader stopped), or the answer to the input request it was sent."""
        target = str(req.args.get("request", ""))
        running = self._running.get(target)
        if running is None or running[0] != caller.id:
            return  # ended already, or another kernel's: nothing to do
        if req.op == "cancel":
            running[1].cancel()
            return
        waiting = self._answers.pop(target, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(str(req.args.get("value", "")))

    async def _send(self, ident: bytes, caller: Caller, frame: BridgeFrame) -> None:
        """Send one answer frame, signed with the key of the kernel that asked."""
        known = self._callers.get(caller.id)
        if self._socket is None or known is None:
            return
        payload = frame.model_dump_json().encode()
        await self._socket.send_multipart([ident, _sign(known[0], payload), payload])

    async def _handle(self, ident: bytes, caller: Caller, req: BridgeRequest) -> None:
        try:
            if self.service.is_stream(req.op):
                result = None
                ask = self._asker(ident, caller, req.id)
                async for event in self.service.stream(req.op, req.args, caller=caller, ask=ask):
                    if event.get("kind") == "result":
                        result = event.get("data")
                        continue
                    await self._send(
                        ident, caller, BridgeFrame(id=req.id, kind="event", data=event)
                    )
                await self._send(ident, caller, BridgeFrame(id=req.id, kind="result", data=result))
            else:
                result = await self.service.call(req.op, req.args, caller=caller)
                await self._send(ident, caller, BridgeFrame(id=req.id, kind="result", data=result))
        except asyncio.CancelledError:
            raise
        except ServiceError as exc:
            await self._send(
                ident, caller, BridgeFrame(id=req.id, kind="error", data=exc.to_dict())
            )
        except Exception as exc:
            log.exception("bridge: %s failed", req.op)
            err = ServiceError("internal", f"{type(exc).__name__}: {exc}")
            await self._send(
                ident, caller, BridgeFrame(id=req.id, kind="error", data=err.to_dict())
            )

    def _asker(self, ident: bytes, caller: Caller, req_id: str) -> AskUser:
        """Asks the client that sent ``req_id`` (it answers with an input_reply)."""

        async def ask(prompt: str, password: bool) -> str:
            waiting: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._answers[req_id] = waiting
            data = {"kind": "input_request", "prompt": prompt, "password": password}
            try:
                await self._send(ident, caller, BridgeFrame(id=req_id, kind="event", data=data))
                return await waiting
            finally:
                self._answers.pop(req_id, None)

        return ask


def _is_input_request(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "input_request"


class BridgeClient:
    """The child side: calls the parent's ManagerService as if it were local."""

    def __init__(self, info: BridgeInfo) -> None:
        self.info = info
        self.key = info.key.encode()
        self._socket: zmq.asyncio.Socket | None = None
        self._queues: dict[str, asyncio.Queue] = {}
        self._reader: asyncio.Task | None = None

    @classmethod
    def from_env(cls) -> BridgeClient | None:
        path = os.environ.get(BRIDGE_FILE_ENV)
        if not path:
            return None
        try:
            with open(path) as f:
                info = BridgeInfo.model_validate_json(f.read())
        except (OSError, ValueError) as exc:
            log.warning("cannot use the silik bridge %s: %s", path, exc)
            return None
        return cls(info)

    def _ensure(self) -> zmq.asyncio.Socket:
        if self._socket is None:
            sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
            sock.linger = 0
            sock.connect(self.info.url)
            self._socket = sock
            self._reader = asyncio.ensure_future(self._read())
        return self._socket

    async def _read(self) -> None:
        assert self._socket is not None
        while True:
            frames = await self._socket.recv_multipart()
            if len(frames) != 2 or not _verify(self.key, frames[0], frames[1]):
                log.warning("bridge client: dropped a frame with a bad signature")
                continue
            try:
                frame = BridgeFrame.model_validate_json(frames[1])
            except ValueError:
                continue
            queue = self._queues.get(frame.id)
            if queue is not None:
                queue.put_nowait(frame)

    async def _send(self, op: str, args: dict[str, Any]) -> tuple[str, asyncio.Queue]:
        req = BridgeRequest(op=op, args=args)
        queue: asyncio.Queue = asyncio.Queue()
        self._queues[req.id] = queue
        await self._post(req)
        return req.id, queue

    async def _post(self, req: BridgeRequest) -> None:
        sock = self._ensure()
        payload = req.model_dump_json().encode()
        await sock.send_multipart([self.info.kernel_id.encode(), _sign(self.key, payload), payload])

    def _cancel(self, req_id: str) -> None:
        """Tell the server to stop ``req_id``, without waiting: a server that is gone
        (no peer to queue for) must not hold up the reader that stopped."""
        assert self._socket is not None
        payload = BridgeRequest(op="cancel", args={"request": req_id}).model_dump_json().encode()
        frames = [self.info.kernel_id.encode(), _sign(self.key, payload), payload]
        try:
            self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    async def stream(
        self,
        op: str,
        args: dict[str, Any],
        *,
        timeout: float | None = None,
        ask: AskUser | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of a streaming op, then ``{"kind": "result", "data": ...}``.

        ``ask`` answers the input requests the op forwards (None: ""). Stopped
        before its result (the caller was interrupted), the op is cancelled."""
        req_id, queue = await self._send(op, args)
        limit = (timeout or 60.0) + 30.0  # the service enforces the op's own timeout
        ended = False
        try:
            while True:
                try:
                    frame: BridgeFrame = await asyncio.wait_for(queue.get(), limit)
                except TimeoutError:
                    raise SilikError(
                        f"the parent silik did not answer {op} in time",
                        hint="is the parent silik kernel still running?",
                    ) from None
                if frame.kind == "event" and _is_input_request(frame.data):
                    value = (
                        await ask(frame.data["prompt"], bool(frame.data["password"])) if ask else ""
                    )
                    await self._post(
                        BridgeRequest(op="input_reply", args={"request": req_id, "value": value})
                    )
                elif frame.kind == "event":
                    yield frame.data
                elif frame.kind == "error":
                    ended = True
                    raise ServiceError.from_dict(frame.data)
                else:
                    ended = True
                    yield {"kind": "result", "data": frame.data}
                    return
        finally:
            self._queues.pop(req_id, None)
            if not ended and self._socket is not None:
                self._cancel(req_id)

    async def call(self, op: str, args: dict[str, Any], *, timeout: float = 60.0) -> Any:
        result = None
        async for event in self.stream(op, args, timeout=timeout):
            if event.get("kind") == "result":
                result = event.get("data")
        return result

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except BaseException:
                pass
            self._reader = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
