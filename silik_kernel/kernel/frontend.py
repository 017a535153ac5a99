"""The frontend a command cell's commands talk to: output into the cell, code
relayed from a sub-kernel into the cell, connect mode, exit.

A cell that is one `run CODE PATH` line starts its run as the cell arrives
(:meth:`CellFrontend.start_early`), before silik publishes its busy and
execute_input; the `run` command's relay then takes that run over, and the
cell ends with the run's own reply and idle (see ``replies.CellEnd``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from silik_kernel.commands.parsing import UnterminatedQuote
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.commands.runner import PlannedLine, plan_cell
from silik_kernel.errors import SilikError
from silik_kernel.kernel.comms import CommRouter
from silik_kernel.kernel.connect import CellState, ConnectMode
from silik_kernel.kernel.replies import CellEnd, Replies
from silik_kernel.manager import SilikManager
from silik_kernel.subkernels.execution import ExecuteOptions, Execution, Message


@dataclass(frozen=True)
class EarlyRun:
    """A one-line `run` cell's run, sent as the cell arrived."""

    target: tuple[str, str]  # (path, code) as the line names them
    run: Execution
    where: str  # the kernel's absolute path


class CellFrontend:
    """The commands' :class:`~silik_kernel.commands.registry.Frontend` for silik's cells."""

    def __init__(
        self,
        manager: SilikManager,
        replies: Replies,
        comms: CommRouter,
        connect: ConnectMode,
        state: CellState,
        parent: Callable[[], dict[str, Any]],
        ask: Callable[[dict[str, Any], dict[str, Any]], Awaitable[str]],
    ) -> None:
        self.manager = manager
        self.replies = replies
        self.comms = comms
        self.connect = connect
        self.state = state
        self.parent = parent  # the cell's request
        self.ask = ask
        self.payloads: list[dict[str, Any]] = []  # of the running cell's reply
        self.cell_end: CellEnd | None = None  # of the running command cell
        self.early: EarlyRun | None = None
        self._planned: tuple[str, list[PlannedLine]] | None = None  # the arriving cell's

    # -- the Frontend protocol ---------------------------------------------
    @property
    def connected_path(self) -> str | None:
        return self.connect.path

    def enter_connect_mode(self, path: str) -> None:
        self.connect.enter(path)

    def leave_connect_mode(self) -> None:
        self.connect.leave()

    def request_exit(self) -> None:
        self.payloads.append({"source": "ask_exit", "keepkernel": False})

    def print(self, text: str, name: str = "stdout") -> None:
        if not text.endswith("\n"):
            text += "\n"
        self.replies.publish("stream", {"name": name, "text": text}, self.parent())

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        content = {"data": data, "metadata": metadata or {}, "transient": {}}
        self.replies.publish("display_data", content, self.parent())

    def forward(self, msg: Message) -> None:
        self.comms.forward(msg, self.parent())

    @contextmanager
    def running(self, path: str) -> Iterator[None]:
        self.state.running.append(path)
        try:
            yield
        finally:
            self.state.running.remove(path)

    async def relay(
        self, path: str, code: str, options: ExecuteOptions | None = None
    ) -> dict[str, Any]:
        """Run ``code`` on the sub-kernel at ``path`` and forward its messages to this cell.

        Returns the sub-kernel's execute_reply content.
        """
        parent = self.parent()
        early = self.take_early(path, code) if options is None else None
        if early is not None:
            run, where = early.run, early.where
            run.early_end = self.cell_end  # the cell is this one line: it ends with the run
        else:
            opts = options or ExecuteOptions(allow_stdin=self.state.allow_stdin)
            notice = self.manager.take_restart_notice(path)
            if notice:
                self.print("warning: " + notice, "stderr")
            where = self.manager.record(path).entry.path
            sub = self.manager.subkernel(path)
            run = await self.manager.begin_execute(
                path, code, opts, late=self.comms.late_sink(parent, sub.kernel_id)
            )
            self.state.running.append(where)
        kernel_id = run.sub.kernel_id
        try:
            return await run.drain(
                lambda msg: self.comms.forward(msg, parent, kernel_id),
                lambda content: self.ask(content, parent),
            )
        finally:
            self.state.running.remove(where)

    # -- a command cell, planned as it arrives --------------------------------
    def plan_arriving(
        self, content: dict[str, Any], registry: CommandRegistry, start: bool
    ) -> None:
        """Plan a command cell as it arrives (once: the cell runs this plan); with
        ``start``, a cell that is one plain `run` line sends its code at once."""
        self._planned = None
        self.drop_early()  # of a cell that never started (shutdown)
        code = content.get("code")
        if not isinstance(code, str):
            return
        try:
            plan = plan_cell(registry, code)
        except UnterminatedQuote:
            return  # the cell reports it
        self._planned = (code, plan)
        if start and len(plan) == 1:
            self.start_early(plan[0], bool(content.get("allow_stdin", False)))

    def take_plan(self, code: str) -> list[PlannedLine] | None:
        """The plan made for ``code`` as it arrived, if it was."""
        planned, self._planned = self._planned, None
        return planned[1] if planned is not None and planned[0] == code else None

    def start_early(self, planned: PlannedLine, allow_stdin: bool) -> None:
        """Send a plain `run` line's code now. Anything unusual (a kernel that is
        restarting or was restarted, a missing one) is left to the general path."""
        self.drop_early()  # of a cell that never started (shutdown)
        target = planned.plain_run
        if target is None:
            return
        path, code = target
        try:
            rec = self.manager.record(path)
            sub = self.manager.subkernel(path)
            if sub.restarted_unseen or sub.restarting:
                return
            opts = ExecuteOptions(allow_stdin=allow_stdin)
            late = self.comms.late_sink(self.parent(), sub.kernel_id)
            run = self.manager.begin_execute_now(rec, sub, code, opts, late=late)
        except SilikError:
            return  # the general path reports it
        self.state.running.append(rec.entry.path)  # an interrupt reaches it from now on
        self.early = EarlyRun(target, run, rec.entry.path)

    def take_early(self, path: str, code: str) -> EarlyRun | None:
        early = self.early
        if early is None or early.target != (path, code):
            self.drop_early()
            return None
        self.early = None
        return early

    def drop_early(self) -> None:
        """A cell that ended before its `run` took the request over (interrupted):
        the kernel's output still reaches the cell, as late output."""
        early, self.early = self.early, None
        if early is not None:
            early.run.close()
            self.state.running.remove(early.where)
