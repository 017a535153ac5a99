"""Cells that run beside the running cell: `stop`, `restart` and `interrupt` typed
in another frontend.

The shell queue runs one cell at a time. With two frontends on one silik, a cell
of frontend A that waits on a kernel would hold frontend B's `stop` of that very
kernel until A's cell ends by itself. A cell of another Jupyter session whose
every line is one of these commands therefore runs as it arrives, beside the
running cell; a kernel it stops or restarts ends the cell waiting on it (that
cell sees its kernel go, as with a death). Anything else from another frontend
waits its turn, as it does in any kernel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.parsing import UnterminatedQuote
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.commands.runner import PlannedLine, TextFrontend, plan_cell, run_planned
from silik_kernel.errors import SilikError
from silik_kernel.kernel.base import error_content, error_reply, ok_reply
from silik_kernel.kernel.connect import ConnectMode, parse_request
from silik_kernel.kernel.replies import CellEnd, Replies
from silik_kernel.manager import SilikManager
from silik_kernel.protocol.wire import Signer

log = logging.getLogger("silik.beside")

#: commands that free a kernel a cell is stuck on: they never wait behind that cell
BESIDE_COMMANDS = frozenset({"stop", "restart", "interrupt"})


class BesideCells:
    """Runs another frontend's `stop`/`restart`/`interrupt` cells as they arrive.

    ``running()`` is the request the shell queue runs now; ``finish_metadata``
    is the kernel's (ipykernel's reply metadata); ``next_count()``, set by the
    kernel, takes its next execution count.
    """

    def __init__(
        self,
        manager: SilikManager,
        registry: CommandRegistry,
        replies: Replies,
        connect: ConnectMode,
        signer: Signer,
        running: Callable[[], dict[str, Any]],
        finish_metadata: Callable[..., dict[str, Any]],
    ) -> None:
        self.manager = manager
        self.registry = registry
        self.replies = replies
        self.connect = connect
        self.signer = signer
        self.running = running
        self.finish_metadata = finish_metadata
        self.next_count: Callable[[], int] = lambda: 0  # set by the kernel

    def take(self, msg: Any) -> Coroutine[Any, Any, None] | None:
        """A shell message arriving while another runs: the cell to run now, or None
        if it waits its turn."""
        parsed = parse_request(self.signer, msg)
        if parsed is None:
            return None
        idents, request, frames = parsed
        cell = self._cell(idents, request)
        if cell is not None:
            self.signer.record(frames[0])  # as Session.deserialize would
        return cell

    def _cell(
        self, idents: list[bytes], request: dict[str, Any]
    ) -> Coroutine[Any, Any, None] | None:
        content = request["content"]
        if not isinstance(content, dict):
            return None  # a malformed request waits its turn and gets its error reply then
        session = request["header"].get("session")
        code = content.get("code")
        running = (self.running().get("header") or {}).get("session", "")
        if session == running or content.get("silent") or not isinstance(code, str):
            return None
        if self.connect.active:
            code = code.strip()
            if not code.startswith("/cmd "):
                return None  # code for the connected kernel
            code = code[len("/cmd ") :]
        try:
            plan = plan_cell(self.registry, code)
        except UnterminatedQuote:
            return None
        if not plan or not all(_frees_a_kernel(line) for line in plan):
            return None
        return self._run(idents, request, code, plan)

    async def _run(
        self, idents: list[bytes], request: dict[str, Any], code: str, plan: list[PlannedLine]
    ) -> None:
        publish = self.replies.publish
        count = self.next_count()
        publish("status", {"execution_state": "busy"}, request)
        publish(
            "execute_input", {"code": request["content"]["code"], "execution_count": count}, request
        )
        front = TextFrontend(self.manager)
        ctx = Context(self.manager, front, self.registry)
        failed: dict[str, Any] | None = None
        for planned in plan:
            try:
                out = await run_planned(ctx, planned)
            except SilikError as exc:
                failed = _shown(exc)
                break
            except Exception as exc:
                log.error("internal error running %r", code, exc_info=True)
                failed = _shown(SilikError.internal(exc))
                break
            if out is not None and out.text:
                front.print(out.text)
        if front.parts:
            publish("stream", {"name": "stdout", "text": "".join(front.parts)}, request)
        if failed is not None:
            publish("error", failed, request)
        reply = ok_reply(count) if failed is None else error_reply(count, failed)
        end = CellEnd(
            self.replies,
            idents,
            request,
            {},
            reply_for=lambda content: None,
            finish_metadata=self.finish_metadata,
            before_send=lambda request, reply: None,  # nothing queued behind it to abort
        )
        end.send(reply)


def _frees_a_kernel(line: PlannedLine) -> bool:
    cmd = line.command
    return (
        cmd is not None
        and line.error is None
        and not line.wants_help
        and cmd.name in BESIDE_COMMANDS
    )


def _shown(exc: SilikError) -> dict[str, Any]:
    """An error's content, as silik shows its own errors."""
    return error_content(exc.ename, exc.message, exc.traceback_lines())
