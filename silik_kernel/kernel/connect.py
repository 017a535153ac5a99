"""Connect mode's fast path: a cell passed to the sub-kernel as it came.

In connect mode an ordinary cell needs nothing from silik: the frontend's
execute_request goes to the connected sub-kernel unchanged (only re-signed with
the sub-kernel's key), and every message the sub-kernel sends for it (status,
execute_input, outputs, the reply) comes back unchanged, re-signed with silik's
key. No JSON is re-encoded and silik publishes no status of its own, so the
frontend sees exactly what the sub-kernel said, at almost no cost.

Anything unusual (a `/cmd` escape, a kernel that is restarting or was restarted,
a plugin report to show) takes the general path, ``SilikKernel.do_execute``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import zmq

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.protocol.messages import RELAYED_IOPUB
from silik_kernel.protocol.wire import DELIM, loads, msg_type_of, unpack
from silik_kernel.subkernels.subkernel import SubKernel

if TYPE_CHECKING:
    from silik_kernel.kernel.kernel import SilikKernel

log = logging.getLogger("silik.passthrough")


class PassThroughCell:
    """One execute_request relayed frame for frame to one sub-kernel."""

    def __init__(
        self,
        kernel: SilikKernel,
        sub: SubKernel,
        path: str,
        idents: list[bytes],
        request: dict[str, Any],
        frames: list[bytes],
    ) -> None:
        self.kernel = kernel
        self.sub = sub
        self.path = path
        self.idents = idents
        self.request = request
        self.frames = frames  # signature, header, parent, metadata, content, *buffers
        self.msg_id: str = request["header"]["msg_id"]
        self.reply: dict[str, Any] | None = None
        self.idle = False
        self._held_idle: list[bytes] | None = None  # the kernel's idle, if before its reply
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        """Send the request (at once, from the socket callback when nothing is queued)."""
        k = self.kernel
        content = self.request["content"]
        allow_stdin = bool(content.get("allow_stdin", False))
        if k._allow_stdin != allow_stdin:  # a trait: setting it costs more than reading
            k._allow_stdin = allow_stdin
        k._interrupted = False
        k._running_paths.append(self.path)
        k._cell_task = self.done  # an interrupt that reaches no kernel cancels it
        try:
            self.sub.forward_raw("shell", self.frames[1:], self.msg_id, self._on_message)
        except SilikError as exc:
            self.done.set_exception(exc)

    async def finish(self) -> None:
        """Wait for the sub-kernel's reply and idle; stand in for it if it cannot answer."""
        k = self.kernel
        content = self.request["content"]
        try:
            await self.done
        except asyncio.CancelledError:
            if k._shutting_down:
                raise
            reply = k._error_reply(
                SilikError("interrupted", hint=None), ename="KeyboardInterrupt", publish=True
            )
            k.finish_cell(self.idents, self.request, reply)  # the kernel will not
            return
        except SilikError as exc:
            rec = k.manager.records.get(self.sub.kernel_id)
            if isinstance(exc, KernelDiedError) and rec is not None:
                exc = KernelDiedError(k.manager.died_message(rec, exc.message))
            k.finish_cell(self.idents, self.request, await k._connected_failure(exc))
            return
        finally:
            k._cell_task = None
            k._running_paths.remove(self.path)
            self.sub.forget_raw(self.msg_id, late=self._on_late)
        reply = self.reply or {}
        count = reply.get("execution_count")
        if isinstance(count, int):
            k.execution_count = count
        silent = bool(content.get("silent", False))
        if content.get("store_history", not silent) and not silent:
            k._history.append((1, k.execution_count, content.get("code", "")))

    def _on_message(self, channel: str, msg_type: Any, parts: list[bytes]) -> None:
        if self.done.done():
            self._on_late(channel, msg_type, parts)
            return
        if channel == "died":
            self.done.set_exception(KernelDiedError(msg_type.reason))
            return
        if channel == "iopub":
            # (SubKernel._to_raw has just read this status into execution_state)
            if msg_type == "status" and self.sub.execution_state == "idle":
                self.idle = True
                if self.reply is None:
                    self._held_idle = parts  # after the reply (see below)
                    return
            self._relay(msg_type, parts)
        elif channel == "shell":
            if msg_type != "execute_reply":
                return
            self.reply = loads(parts[4])
            # Before the frontend can see this cell finish (see SilikKernel.finish_cell).
            self.kernel.abort_after(self.request, self.reply)
            self.kernel.reply_raw(self.idents, parts)
            if self._held_idle is not None:
                self.kernel.publish_raw("status", self._held_idle)
                self._held_idle = None
        elif channel == "stdin" and msg_type == "input_request":
            self.kernel.in_shell_context(self._answer(json.loads(parts[4])))
            return
        if self.idle and self.reply is not None:
            self.done.set_result(None)

    def _on_late(self, channel: str, msg_type: Any, parts: list[bytes]) -> None:
        if channel == "iopub" and msg_type in RELAYED_IOPUB:
            self._relay(msg_type, parts)

    def _relay(self, msg_type: str, parts: list[bytes]) -> None:
        if msg_type.startswith("comm_"):  # widgets keep their kernel after `/cmd`
            self.kernel._track_comm(msg_type, json.loads(parts[4]), self.sub.kernel_id)
        self.kernel.publish_raw(msg_type, parts)

    async def _answer(self, content: dict[str, Any]) -> None:
        try:
            value = await self.kernel._ask_frontend(content, self.request)
            self.sub.input_reply(value)
        except SilikError:
            pass  # the kernel died meanwhile: the cell reports it
        except Exception:
            log.exception("relaying an input request")


def parse_request(
    kernel: SilikKernel, msg: list[Any]
) -> tuple[list[bytes], dict[str, Any], list[bytes]] | None:
    """An authentic execute_request's (idents, message, frames), or None for anything else.

    ``frames`` starts with the signature. Checks what ``Session.deserialize``
    checks (signature, replayed signature) but records nothing: a message left
    to ipykernel is checked again there. ``SilikKernel._take_execute`` records
    the signature of the messages it takes.
    """
    every = [p.bytes if isinstance(p, zmq.Frame) else bytes(p) for p in msg]
    try:
        i = every.index(DELIM)
    except ValueError:
        return None
    frames = every[i + 1 :]
    if len(frames) < 5 or msg_type_of(frames[1]) != "execute_request":
        return None
    if not kernel._signer.check(frames, record=False):
        return None
    header = loads(frames[1])
    if not isinstance(header, dict) or header.get("msg_type") != "execute_request":
        return None
    return every[:i], unpack(frames, header), frames
