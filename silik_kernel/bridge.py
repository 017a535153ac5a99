"""The bridge: a parent silik serves its SilikManager to the kernels it starts.

Agent kernels started from a silik act on the parent's tree through it. Both
ends live here so they share one message schema.

Transport: a ZMQ ROUTER bound on 127.0.0.1 only. The address and a random key
are written to a JSON file (mode 0600) whose path every child receives in the
``SILIK_BRIDGE_FILE`` environment variable, with its own kernel id in
``SILIK_KERNEL_ID``. Every frame is signed with HMAC-SHA256 over its payload,
like Jupyter's own sessions. Requests carry a unique id and a timestamp: unsigned,
forged, stale or replayed requests are rejected and logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Literal

import zmq
import zmq.asyncio
from pydantic import BaseModel, Field

from silik_kernel.errors import SilikError
from silik_kernel.service import ManagerService, ServiceError

log = logging.getLogger("silik.bridge")

BRIDGE_FILE_ENV = "SILIK_BRIDGE_FILE"
KERNEL_ID_ENV = "SILIK_KERNEL_ID"
MAX_SKEW = 120.0  # seconds a request may be old (or ahead) before it is refused
REPLAY_MEMORY = 10000


class BridgeInfo(BaseModel):
    """What a child needs to reach the bridge: the content of the bridge file."""

    transport: Literal["tcp"] = "tcp"
    ip: str = "127.0.0.1"
    port: int
    key: str
    signature_scheme: Literal["hmac-sha256"] = "hmac-sha256"
    pid: int = Field(default_factory=os.getpid)

    @property
    def url(self) -> str:
        return f"{self.transport}://{self.ip}:{self.port}"


class BridgeRequest(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = Field(default_factory=time.time)
    caller: str = ""  # the calling kernel's SILIK_KERNEL_ID
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
    """Serves a ManagerService on loopback, concurrently with the kernel's cells."""

    def __init__(self, service: ManagerService, runtime_dir: str) -> None:
        self.service = service
        self.key = secrets.token_hex(32).encode()
        self.runtime_dir = runtime_dir
        self.file = ""
        self.rejected = 0
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._socket: zmq.asyncio.Socket | None = None
        self._task: asyncio.Task | None = None
        self._handlers: set[asyncio.Task] = set()

    def start(self) -> str:
        """Bind, write the bridge file, start serving; returns the file's path."""
        ctx = zmq.asyncio.Context.instance()
        sock = ctx.socket(zmq.ROUTER)
        sock.linger = 0
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        self._socket = sock
        info = BridgeInfo(port=port, key=self.key.decode())
        os.makedirs(self.runtime_dir, exist_ok=True)
        self.file = os.path.join(self.runtime_dir, f"silik-bridge-{os.getpid()}-{port}.json")
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(info.model_dump_json())
        self._task = asyncio.ensure_future(self._serve())
        return self.file

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
        if self.file:
            try:
                os.remove(self.file)
            except OSError:
                pass

    def _accept(self, frames: list[bytes]) -> BridgeRequest | None:
        if len(frames) != 3:
            log.warning("bridge: rejected a malformed message (%d frames)", len(frames))
            return None
        _ident, signature, payload = frames
        if not _verify(self.key, signature, payload):
            log.warning("bridge: rejected a message with a bad signature")
            return None
        try:
            req = BridgeRequest.model_validate_json(payload)
        except ValueError:
            log.warning("bridge: rejected an invalid request")
            return None
        now = time.time()
        if abs(now - req.ts) > MAX_SKEW:
            log.warning("bridge: rejected a stale request %s", req.id)
            return None
        if req.id in self._seen:
            log.warning("bridge: rejected a replayed request %s", req.id)
            return None
        self._seen[req.id] = now
        while len(self._seen) > REPLAY_MEMORY or (
            self._seen and now - next(iter(self._seen.values())) > 2 * MAX_SKEW
        ):
            self._seen.popitem(last=False)
        return req

    async def _serve(self) -> None:
        assert self._socket is not None
        while True:
            frames = await self._socket.recv_multipart()
            req = self._accept(frames)
            if req is None:
                self.rejected += 1
                continue
            task = asyncio.ensure_future(self._handle(frames[0], req))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _send(self, ident: bytes, frame: BridgeFrame) -> None:
        if self._socket is None:
            return
        payload = frame.model_dump_json().encode()
        await self._socket.send_multipart([ident, _sign(self.key, payload), payload])

    async def _handle(self, ident: bytes, req: BridgeRequest) -> None:
        try:
            if self.service.is_stream(req.op):
                result = None
                async for event in self.service.stream(req.op, req.args, caller=req.caller):
                    if event.get("kind") == "result":
                        result = event.get("data")
                        continue
                    await self._send(ident, BridgeFrame(id=req.id, kind="event", data=event))
                await self._send(ident, BridgeFrame(id=req.id, kind="result", data=result))
            else:
                result = await self.service.call(req.op, req.args, caller=req.caller)
                await self._send(ident, BridgeFrame(id=req.id, kind="result", data=result))
        except asyncio.CancelledError:
            raise
        except ServiceError as exc:
            await self._send(ident, BridgeFrame(id=req.id, kind="error", data=exc.to_dict()))
        except Exception as exc:
            log.exception("bridge: %s failed", req.op)
            err = ServiceError("internal", f"{type(exc).__name__}: {exc}")
            await self._send(ident, BridgeFrame(id=req.id, kind="error", data=err.to_dict()))


class BridgeClient:
    """The child side: calls the parent's ManagerService as if it were local."""

    def __init__(self, info: BridgeInfo, caller: str = "") -> None:
        self.info = info
        self.key = info.key.encode()
        self.caller = caller
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
        return cls(info, caller=os.environ.get(KERNEL_ID_ENV, ""))

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
        sock = self._ensure()
        req = BridgeRequest(op=op, args=args, caller=self.caller)
        queue: asyncio.Queue = asyncio.Queue()
        self._queues[req.id] = queue
        payload = req.model_dump_json().encode()
        await sock.send_multipart([_sign(self.key, payload), payload])
        return req.id, queue

    async def stream(
        self, op: str, args: dict[str, Any], *, timeout: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of a streaming op, then ``{"kind": "result", "data": ...}``."""
        req_id, queue = await self._send(op, args)
        limit = (timeout or 60.0) + 30.0  # the service enforces the op's own timeout
        try:
            while True:
                try:
                    frame: BridgeFrame = await asyncio.wait_for(queue.get(), limit)
                except TimeoutError:
                    raise SilikError(
                        f"the parent silik did not answer {op} in time",
                        hint="is the parent silik kernel still running?",
                    ) from None
                if frame.kind == "event":
                    yield frame.data
                elif frame.kind == "error":
                    raise ServiceError.from_dict(frame.data)
                else:
                    yield {"kind": "result", "data": frame.data}
                    return
        finally:
            self._queues.pop(req_id, None)

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
