"""How each kind of cell ends: the reply for every outcome, built in one place.

A command cell runs its plan; a connect-mode cell relays to the connected
kernel; either can fail, be interrupted, or lose its kernel. :class:`CellReplies`
turns each outcome into the cell's execute_reply (showing silik's own errors in
the cell) and makes the :class:`~silik_kernel.kernel.replies.CellEnd` that sends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

from silik_kernel.commands.parsing import UnterminatedQuote
from silik_kernel.commands.runner import CellRunner, LineFailed, PlannedLine, plan_cell
from silik_kernel.errors import STOPPED_REASON, KernelDiedError, SilikError
from silik_kernel.kernel.base import error_content, error_reply, ok_reply
from silik_kernel.kernel.connect import CellState, ConnectMode
from silik_kernel.kernel.frontend import CellFrontend
from silik_kernel.kernel.replies import CellEnd, Replies
from silik_kernel.kernel.shutdown import INTERRUPT_GRACE, await_auto_restart
from silik_kernel.manager import stopped_elsewhere
from silik_kernel.subkernels.execution import ExecuteOptions


def typed_by_habit(code: str, names: Collection[str]) -> str | None:
    """The silik command a cell that failed in connect mode looks like (its first
    line, as typed), or None when it does not start with a command's name used as
    one (``stop = 1`` is Python)."""
    line = code.strip().split("\n", 1)[0].strip()
    words = line.split(None, 2)
    if not words or words[0] not in names:
        return None
    if len(words) > 1 and (words[1][0] == "=" or set(words[1]) <= set(_OPERATOR_CHARS)):
        return None
    return line if len(line) <= 60 else words[0]


_OPERATOR_CHARS = "+-*/%<>=!&|^@"


class CellReplies:
    """Runs command and connect-mode cells to their reply.

    ``count()`` is the kernel's execution count; ``parent()`` the running cell's
    request; ``finish_metadata`` and ``abort_after`` are the kernel's (ipykernel's
    reply metadata; aborting the cells queued behind a failed one).
    """

    def __init__(
        self,
        replies: Replies,
        frontend: CellFrontend,
        runner: CellRunner,
        connect: ConnectMode,
        state: CellState,
        count: Callable[[], int],
        parent: Callable[[], dict[str, Any]],
        finish_metadata: Callable[..., dict[str, Any]],
        abort_after: Callable[[dict[str, Any], dict[str, Any]], None],
    ) -> None:
        self.replies = replies
        self.frontend = frontend
        self.runner = runner
        self.connect = connect
        self.state = state
        self.count = count
        self.parent = parent
        self.finish_metadata = finish_metadata
        self.abort_after = abort_after

    def end(
        self, idents: list[bytes], request: dict[str, Any], metadata: dict[str, Any]
    ) -> CellEnd:
        return CellEnd(
            self.replies,
            idents,
            request,
            metadata,
            reply_for=self.for_run,
            finish_metadata=self.finish_metadata,
            before_send=self._before_send,
        )

    def _before_send(self, request: dict[str, Any], reply: dict[str, Any]) -> None:
        self.state.task = None  # finished: an interrupt has nothing left to cancel
        self.abort_after(request, reply)

    def for_run(self, content: dict[str, Any]) -> dict[str, Any] | None:
        """A one-line `run` cell's reply, from its kernel's reply (as the command
        path would make it: the kernel's error is the cell's)."""
        status = content.get("status")
        if status == "ok":
            return ok_reply(self.count(), self.frontend.payloads)
        if status == "error":
            return error_reply(self.count(), content)
        return None  # aborted: silik's own words, on the general path

    def error(self, exc: SilikError, *, ename: str | None = None) -> dict[str, Any]:
        """Show silik's error in the cell; the failed reply that goes with it."""
        name = ename or exc.ename
        content = error_content(name, str(exc.message), exc.traceback_lines(name))
        self.replies.publish("error", content, self.parent())
        return error_reply(self.count(), content)

    def interrupted(self) -> dict[str, Any]:
        if self.state.unresponsive:
            return self.error(self.not_responding(self.state.unresponsive))
        return self.error(SilikError("interrupted", hint=None), ename="KeyboardInterrupt")

    def not_responding(self, paths: list[str]) -> SilikError:
        """The error of a cell cancelled because ``paths`` did not answer its interrupt,
        with commands typable where the user is (connect mode needs `/cmd`)."""
        cmd = "/cmd " if self.connect.active else ""
        names = ", ".join(paths)
        if len(paths) == 1:
            what = f"kernel {names} is not responding"
            hint = f"`{cmd}restart {names}` for a fresh kernel (its state is lost), or `{cmd}stop {names}`"
        else:
            what = f"kernels {names} are not responding"
            hint = (
                f"`{cmd}restart PATH` gives one a fresh kernel (its state is lost); "
                f"`{cmd}stop {' '.join(paths)}` stops them"
            )
        err = SilikError(
            f"{what}: the cell did not end within {INTERRUPT_GRACE:g} s of the interrupt",
            hint=hint + " (a kernel that is only busy still shows its later output here)",
        )
        err.ename = "KernelNotResponding"
        return err

    async def commands(self, code: str, plan: list[PlannedLine] | None) -> dict[str, Any]:
        """Run a command cell (``plan``: made as it arrived, if it was)."""
        try:
            await self.runner.run(
                plan if plan is not None else plan_cell(self.runner.registry, code)
            )
        except UnterminatedQuote as exc:
            return self.error(exc)
        except LineFailed as failed:
            end = self.frontend.cell_end
            if end is not None and end.sent is not None:
                return end.sent  # the cell already ended with its run
            if failed.content is not None:  # the kernel's error, shown by the relay
                return error_reply(self.count(), failed.content)
            return self.error(failed.error, ename=failed.ename)
        return ok_reply(self.count(), self.frontend.payloads)

    def hint_after_failure(self, request: dict[str, Any]) -> None:
        """After a connect-mode cell the kernel failed: if it was a silik command
        typed by habit, one line saying how to type it here."""
        path = self.connect.path
        code = request["content"].get("code")
        if path is None or not isinstance(code, str):
            return
        typed = typed_by_habit(code, self.runner.registry.names())
        if typed is not None:
            text = (
                f"hint: you are connected to {path}: silik commands need /cmd, e.g. /cmd {typed}\n"
            )
            self.replies.publish("stream", {"name": "stderr", "text": text}, request)

    async def connected(self, code: str, options: ExecuteOptions) -> dict[str, Any]:
        """Run a connect-mode cell through silik: the kernel's reply, with our payloads."""
        path = self.connect.path
        if path is None:  # stopped meanwhile (by another frontend, or an agent)
            gone = self.connect.entered_path or "the kernel"
            return await self.connected_failure(
                KernelDiedError(
                    f"kernel {gone} was stopped by another frontend or an agent (`stop`); "
                    "this cell did not run.",
                    reason=STOPPED_REASON,
                )
            )
        try:
            reply = dict(await self.frontend.relay(path, code, options))
        except SilikError as exc:
            return await self.connected_failure(exc)
        if reply.get("status") == "error":
            self.hint_after_failure(self.parent())
        reply["payload"] = list(reply.get("payload") or []) + self.frontend.payloads
        reply["execution_count"] = self.count()  # the silik session's, not the kernel's
        return reply

    async def connected_failure(self, exc: SilikError) -> dict[str, Any]:
        """A connect-mode cell failed: report it; leave connect mode if the kernel is gone.

        A death is described once it is known whether the kernel comes back, with
        the commands it names typed as they must be where the user then is.
        """
        dead = self.connect.record
        if dead is not None and dead.status == "dead":
            await await_auto_restart(dead)
        leaving = dead is None or dead.status == "dead"
        if isinstance(exc, KernelDiedError) and dead is not None:
            typed_after = "" if leaving else "/cmd "
            message = self.connect.manager.died_message(dead, exc.reason, typed_after=typed_after)
            exc = KernelDiedError(message, exc.hint, reason=exc.reason)
        elif isinstance(exc, KernelDiedError) and exc.message == STOPPED_REASON:
            # its record is gone with it: name it by the path it was connected as
            gone = self.connect.entered_path or "the kernel"
            exc = KernelDiedError(stopped_elsewhere(gone), reason=exc.reason)
        if leaving:
            self.connect.leave()
            ename = exc.ename
            exc = SilikError(exc.message + "\nBack in silik command mode.", exc.hint)
            exc.ename = ename  # still KernelDied, as with `run`
        return self.error(exc)

    async def pass_through_failure(self, failure: BaseException) -> dict[str, Any]:
        """The reply silik gives for a pass-through cell whose kernel will not."""
        if isinstance(failure, asyncio.CancelledError):
            return self.interrupted()
        assert isinstance(failure, SilikError)
        return await self.connected_failure(failure)
