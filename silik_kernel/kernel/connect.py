"""Connect mode: silik as a transparent gateway to one sub-kernel.

:class:`ConnectMode` knows which kernel is connected and proxies the requests a
frontend makes while typing (complete, inspect, is_complete, history) to it.

An ordinary connect-mode cell needs nothing from silik: the frontend's
execute_request goes to the connected sub-kernel unchanged (only re-signed
with the sub-kernel's key), and every message the sub-kernel sends for it
(status, execute_input, outputs, the reply) comes back re-signed with silik's
key (:class:`PassThroughCell`). Only the few that carry a prompt number are
re-encoded, with silik's execution count in it, and silik publishes no status
of its own, so the frontend sees what the sub-kernel said, numbered as the
silik session's cells are, at almost no cost. Anything unusual (a `/cmd` escape, a kernel
that is restarting or was restarted, a plugin report to show) takes the
general path of a cell.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.kernel.comms import CommRouter
from silik_kernel.kernel.replies import Replies
from silik_kernel.manager import KernelRecord, SilikManager
from silik_kernel.protocol.messages import NUMBERED, RELAYED_IOPUB, renumbered
from silik_kernel.protocol.wire import DELIM, Signer, loads, msg_type_of, unpack
from silik_kernel.subkernels.subkernel import SubKernel

log = logging.getLogger("silik.connect")

ESCAPES = ("/cmd", "<")
PROXY_TIMEOUT = 5.0  # seconds a completion or inspection waits for the connected kernel


def is_escape(stripped: str) -> bool:
    """A connect-mode cell that goes to silik itself (`/cmd`, `<`, `/cmd LINE`)."""
    return stripped in ESCAPES or stripped.startswith("/cmd ")


@dataclass
class CellState:
    """The running cell, as the parts of the silik kernel share it."""

    allow_stdin: bool = False
    interrupted: bool = False
    #: kernels the cell runs code on: an interrupt reaches each of them
    running: list[str] = field(default_factory=list)
    #: what an interrupt that reaches no kernel cancels
    task: asyncio.Future | None = None
    #: kernels that did not stop on an interrupt, so the cell was cancelled without them
    unresponsive: list[str] = field(default_factory=list)


class ConnectMode:
    """Which sub-kernel silik is connected to, and the requests proxied to it.

    One mode for every frontend of the session: silik cannot tell frontends apart
    by their Jupyter session id, because a silik inside silik gets its parent's
    frontend's requests under two (the frontend's own in a pass-through cell, the
    parent silik's in what the parent sends itself).
    """

    def __init__(self, manager: SilikManager) -> None:
        self.manager = manager
        self.kernel_id: str | None = None
        #: the path connected to, known still when its kernel is gone
        self.entered_path: str | None = None

    @property
    def active(self) -> bool:
        return self.kernel_id is not None

    @property
    def record(self) -> KernelRecord | None:
        return self.manager.records.get(self.kernel_id or "")

    @property
    def path(self) -> str | None:
        rec = self.record
        return rec.entry.path if rec is not None and rec.entry.parent is not None else None

    def enter(self, path: str) -> None:
        entry = self.manager.record(path).entry
        self.kernel_id, self.entered_path = entry.kernel_id, entry.path

    def leave(self) -> None:
        self.kernel_id = self.entered_path = None

    def pass_through_target(self, code: Any) -> SubKernel | None:
        """The connected kernel, when ``code`` is an ordinary cell it can take as is."""
        rec = self.record
        sub = rec.sub if rec is not None else None
        if (
            rec is None
            or sub is None
            or not sub.raw_frames
            or rec.status == "dead"
            or sub.dead_reason
            or sub.restarted_unseen
            or sub.restarting
            or not isinstance(code, str)
        ):
            return None
        stripped = code.strip()
        if is_escape(stripped) or stripped.startswith("//"):
            return None
        return sub

    async def proxy(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
        """The connected kernel's reply content to a request, or None if it cannot answer."""
        try:
            sub = self.manager.subkernel(self.path or "")
            reply = await sub.request(msg_type, content, timeout=PROXY_TIMEOUT)
        except SilikError:
            return None
        return reply["content"]


class PassThrough:
    """What every pass-through cell shares: the kernel's cell state and the ways
    it sends, asks and spawns (given explicitly, so a cell never needs the kernel)."""

    def __init__(
        self,
        state: CellState,
        replies: Replies,
        comms: CommRouter,
        abort_after: Callable[[dict[str, Any], dict[str, Any]], None],
        ask: Callable[[dict[str, Any], dict[str, Any]], Awaitable[str]],
        *,
        failed: Callable[[dict[str, Any]], None] = lambda request: None,
    ) -> None:
        self.state = state
        self.replies = replies
        self.comms = comms
        self.abort_after = abort_after
        self.ask = ask
        #: called with the request of a cell the kernel failed, before its idle
        self.failed = failed
        #: runs a coroutine as a task in the shell's context (set once the loop runs)
        self.spawn: Callable[[Any], Any] = asyncio.ensure_future

    def cell(
        self,
        sub: SubKernel,
        path: str,
        idents: list[bytes],
        request: dict[str, Any],
        frames: list[bytes],
        count: int,
    ) -> PassThroughCell:
        return PassThroughCell(self, sub, path, idents, request, frames, count)


class PassThroughCell:
    """One execute_request relayed frame for frame to one sub-kernel.

    Only the messages a frontend numbers its prompts from (execute_input, a
    result, an error, the reply: a few per cell) are decoded, to carry silik's
    ``count`` instead of the sub-kernel's own (kept in their metadata): the
    frontend sees one count for the silik session, in connect mode or not.
    """

    def __init__(
        self,
        shared: PassThrough,
        sub: SubKernel,
        path: str,
        idents: list[bytes],
        request: dict[str, Any],
        frames: list[bytes],
        count: int,
    ) -> None:
        self.shared = shared
        self.sub = sub
        self.path = path
        self.idents = idents
        self.request = request
        self.frames = frames  # signature, header, parent, metadata, content, *buffers
        self.msg_id: str = request["header"]["msg_id"]
        self.count = count  # silik's execution count for this cell
        self.reply: dict[str, Any] | None = None
        self.idle = False
        self._held_idle: list[bytes] | None = None  # the kernel's idle, if before its reply
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        """Send the request (at once, from the socket callback when nothing is queued)."""
        state = self.shared.state
        state.allow_stdin = bool(self.request["content"].get("allow_stdin", False))
        state.interrupted = False
        state.running.append(self.path)
        state.task = self.done  # an interrupt that reaches no kernel cancels it
        try:
            self.sub.forward_raw("shell", self.frames[1:], self.msg_id, self._on_message)
        except SilikError as exc:
            self.done.set_exception(exc)

    async def finish(self) -> BaseException | None:
        """Wait for the sub-kernel's reply and idle. Returns why it cannot answer (an
        interrupt, a death), for the kernel to reply in its place; None when it did."""
        state = self.shared.state
        try:
            await self.done
        except (asyncio.CancelledError, SilikError) as exc:
            return exc
        finally:
            state.task = None
            state.running.remove(self.path)
            self.sub.forget_raw(self.msg_id, late=self._on_late)
        return None

    def _on_message(self, channel: str, msg_type: Any, parts: list[bytes]) -> None:
        if self.done.done():
            self._on_late(channel, msg_type, parts)
            return
        if channel == "died":
            self.done.set_exception(KernelDiedError(msg_type.reason))
            return
        shared = self.shared
        if channel == "iopub":
            # (the sub-kernel's reader has just read this status into execution_state)
            if msg_type == "status" and self.sub.execution_state == "idle":
                self.idle = True
                if self.reply is None:
                    self._held_idle = parts  # after the reply (see below)
                    return
                self._before_idle()
            self._relay(msg_type, parts)
        elif channel == "shell":
            if msg_type != "execute_reply":
                return
            self.reply = reply = loads(parts[4])
            # Before the frontend can see this cell finish (see CellEnd.before_send).
            shared.abort_after(self.request, reply)
            shared.replies.reply_raw(self.idents, self._numbered(parts, reply))
            if self._held_idle is not None:
                self._before_idle()
                shared.replies.publish_raw("status", self._held_idle)
                self._held_idle = None
        elif channel == "stdin" and msg_type == "input_request":
            shared.spawn(self._answer(loads(parts[4])))
            return
        if self.idle and self.reply is not None:
            self.done.set_result(None)

    def _before_idle(self) -> None:
        """The cell's last output: for a failed cell, silik's hint, if any."""
        if self.reply is not None and self.reply.get("status") == "error":
            self.shared.failed(self.request)

    def _on_late(self, channel: str, msg_type: Any, parts: list[bytes]) -> None:
        if channel == "iopub" and msg_type in RELAYED_IOPUB:
            self._relay(msg_type, parts)

    def _relay(self, msg_type: str, parts: list[bytes]) -> None:
        if msg_type in NUMBERED:
            parts = self._numbered(parts, loads(parts[4]))
        elif msg_type.startswith("comm_"):  # widgets keep their kernel after `/cmd`
            self.shared.comms.track(msg_type, loads(parts[4]), self.sub.kernel_id)
        self.shared.replies.publish_raw(msg_type, parts)

    def _numbered(self, parts: list[bytes], content: Any) -> list[bytes]:
        """``parts`` with silik's count in place of the sub-kernel's, which moves to
        the metadata (``content``: ``parts``' content, decoded)."""
        if not isinstance(content, dict) or "execution_count" not in content:
            return parts
        metadata = loads(parts[3])
        if not isinstance(metadata, dict):
            return parts
        content, metadata = renumbered(content, metadata, self.count)
        pack = self.shared.replies.session.pack
        return [*parts[:3], pack(metadata), pack(content), *parts[5:]]

    async def _answer(self, content: dict[str, Any]) -> None:
        try:
            self.sub.input_reply(await self.shared.ask(content, self.request))
        except SilikError:
            pass  # the kernel died meanwhile: the cell reports it
        except Exception:
            log.exception("relaying an input request")


def parse_request(
    signer: Signer, msg: Any
) -> tuple[list[bytes], dict[str, Any], list[bytes]] | None:
    """An authentic execute_request's (idents, message, frames), or None for anything
    else (ipykernel's "stop aborting" marker, a message ipykernel will report).

    ``frames`` starts with the signature. Checks what ``Session.deserialize``
    checks (signature, replayed signature) but records nothing: a message left
    to ipykernel is checked again there; the kernel records the signature of the
    messages it takes.
    """
    if not isinstance(msg, list) or len(msg) < 2:
        return None
    try:
        return _parse(signer, msg)
    except (ValueError, TypeError):
        return None


def _parse(
    signer: Signer, msg: list[Any]
) -> tuple[list[bytes], dict[str, Any], list[bytes]] | None:
    every = [p.bytes if isinstance(p, zmq.Frame) else bytes(p) for p in msg]
    try:
        i = every.index(DELIM)
    except ValueError:
        return None
    frames = every[i + 1 :]
    if len(frames) < 5 or msg_type_of(frames[1]) != "execute_request":
        return None
    if not signer.check(frames, record=False):
        return None
    header = loads(frames[1])
    if not isinstance(header, dict) or header.get("msg_type") != "execute_request":
        return None
    return every[:i], unpack(frames, header), frames
