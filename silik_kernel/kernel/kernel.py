"""SilikKernel: the Jupyter kernel whose cells manage other kernels.

Two modes. In command mode a cell is silik commands, planned once and run by
the commands' runner. In connect mode a cell goes to one sub-kernel and every
message of that sub-kernel comes back as if the frontend talked to it
directly. The kernel wires small collaborators together and never lends itself
to them: the shell queue (shell.py), replies and the cell's end (replies.py),
connect mode and pass-through cells (connect.py), comms (comms.py), and the
frontend the commands talk to (frontend.py).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from silik_kernel import __version__
from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.plugins import load_plugins
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.commands.runner import CellRunner
from silik_kernel.errors import SilikError
from silik_kernel.kernel.agent_bridge import AgentBridge
from silik_kernel.kernel.assist import TypingAssist
from silik_kernel.kernel.base import (
    CellHistory,
)
from silik_kernel.kernel.beside import BesideCells
from silik_kernel.kernel.cells import CellReplies
from silik_kernel.kernel.comms import CommRouter
from silik_kernel.kernel.connect import (
    CellState,
    ConnectMode,
    PassThrough,
    PassThroughCell,
    is_escape,
    parse_request,
)
from silik_kernel.kernel.frontend import CellFrontend
from silik_kernel.kernel.iopub import DirectIOPub
from silik_kernel.kernel.mcp_serving import McpServing
from silik_kernel.kernel.replies import Replies
from silik_kernel.kernel.requests import BadRequest, check_execute
from silik_kernel.kernel.shell import ShellQueueKernel
from silik_kernel.kernel.shutdown import (
    SHUTDOWN_WAIT,
    interrupt_cell,
    kill_children_now,
    stop_everything,
)
from silik_kernel.manager import SilikManager
from silik_kernel.protocol.wire import signer
from silik_kernel.runtime_files import remove_private_dir, remove_stale
from silik_kernel.subkernels.execution import ExecuteOptions

log = logging.getLogger("silik.kernel")


class SilikKernel(ShellQueueKernel):
    implementation = "silik"
    implementation_version = __version__
    banner = (
        "silik: a kernel that manages Jupyter kernels.\n"
        'Try `kernels`, `new python3 -l k1`, `run "print(1)" k1.py`, `> k1.py`, `help`.'
    )
    language_info = {
        "name": "silik",
        "mimetype": "text/x-silik",
        "file_extension": ".silik",
        "pygments_lexer": "bash",
        "codemirror_mode": "shell",
        "version": __version__,
    }
    help_links = []
    # ipykernel sleeps 0.5 ms before every execute_reply to let output flush;
    # silik sends its output itself, before the reply, so it needs no such pause.
    _execute_sleep = 0.0

    #: The commands this kernel understands, declared on the class: a subclass
    #: gets its own copy, so ``@MyKernel.commands.command(...)`` adds commands to
    #: MyKernel only. Each instance adds the installed plugins' commands to it.
    commands: CommandRegistry = BUILTIN_COMMANDS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "commands" not in vars(cls):
            cls.commands = cls.commands.copy()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = load_plugins(type(self).commands)
        self._plugin_report = list(self.commands.problems)  # shown once, on the first cell
        self.manager = SilikManager()
        self.state = CellState()
        self.connect = ConnectMode(self.manager)
        self.cell_history = CellHistory()
        self._signer = signer(self.session)
        self.replies = Replies.of_sockets(
            self.session,
            self._signer,
            self.shell_stream,
            self.iopub_thread,
            self.iopub_socket,
            super()._topic,
        )
        self.comms = CommRouter(self.manager, self.replies, lambda: self.connect.kernel_id)
        self.comms.count = lambda: self.execution_count
        self.manager.on_unrouted = self.comms.unrouted
        self.frontend = CellFrontend(
            self.manager,
            self.replies,
            self.comms,
            self.connect,
            self.state,
            lambda: self.get_parent("shell"),
            self._ask_frontend,
        )
        self.runner = CellRunner(
            self.manager, self.frontend, self.commands, lambda: self.state.interrupted
        )
        self.mcp = self.runner.context.mcp = McpServing(self.manager, self.commands)
        self.assist = TypingAssist(
            self.commands, self.runner.context, self.connect, self.cell_history
        )
        self.cells = CellReplies(
            self.replies,
            self.frontend,
            self.runner,
            self.connect,
            self.state,
            lambda: self.execution_count,
            lambda: self.get_parent("shell"),
            self.finish_metadata,
            self.abort_after,
        )
        self.beside = BesideCells(
            self.manager,
            self.commands,
            self.replies,
            self.connect,
            self._signer,
            lambda: self.shell.context.get(self._shell_parent) or {},
            self.finish_metadata,
        )
        self.beside.next_count = self._next_count
        self.pass_through = PassThrough(
            self.state,
            self.replies,
            self.comms,
            self.abort_after,
            self._ask_frontend,
            failed=self.cells.hint_after_failure,
        )
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = self._comm_from_frontend
        atexit.register(kill_children_now, self.manager)

    @property
    def cell_task(self) -> asyncio.Future | None:  # type: ignore[override]
        return self.state.task

    @cell_task.setter
    def cell_task(self, task: asyncio.Future | None) -> None:
        self.state.task = task

    def start(self) -> None:
        super().start()
        remove_stale()  # what silik processes killed earlier left behind
        assert self._main_loop is not None
        if isinstance(self.iopub_thread, DirectIOPub):
            self.iopub_thread.watch(self._main_loop)  # answer subscriptions on the main loop
        self.replies.after_send = self.shell.look
        self.shell.take_beside = self.beside.take
        self.pass_through.spawn = self.shell.task
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.bridge = AgentBridge(self.manager, self.commands)
        self.manager.agent_credentials = self.bridge.credentials

    def _topic(self, topic: str) -> bytes:
        return self.replies.topic(topic)

    async def _ask_frontend(self, content: dict[str, Any], parent: dict[str, Any]) -> str:
        """Relay an input_request to our frontend and wait for its answer, interruptibly."""
        if not self.state.allow_stdin:
            return ""
        # An interrupt also reaches the sub-kernel, whose input() then raises: stop waiting.
        return await self.ask_frontend(
            content.get("prompt", ""),
            bool(content.get("password")),
            parent,
            self._get_shell_context_var(self._shell_parent_ident),
            stop=lambda: self.state.interrupted,
        )

    def _take_execute(self, msg: Any) -> Coroutine[Any, Any, None] | None:
        """An authentic execute_request as a started cell (a coroutine to finish it),
        or None for any other message.

        In connect mode an ordinary cell is passed through (connect.py); any other
        cell runs here. Either way, what ipykernel's dispatch would add (its debug
        logging, signal handler swaps, a second JSON pass over the reply, a send
        queue) is left out of every cell's round trip.
        """
        parsed = parse_request(self._signer, msg)
        if parsed is None:
            return None
        idents, request, frames = parsed
        try:
            check_execute(request)
        except BadRequest:
            return None  # ipykernel's path: an error reply (MainLoopKernel.execute_request)
        self.set_parent(idents, request, channel="shell")
        self._signer.record(frames[0])  # as Session.deserialize would
        content = request["content"]
        if self.connect.active:
            sub = (
                None
                if self._plugin_report
                else self.connect.pass_through_target(content.get("code"))
            )
            if sub is not None:
                if not content.get("silent", False):
                    self.execution_count += 1
                path = self.connect.path or ""
                cell = self.pass_through.cell(
                    sub, path, idents, request, frames, self.execution_count
                )
                cell.start()
                return self._finish_pass_through(cell)
        else:
            self.frontend.plan_arriving(content, self.commands, start=not self._plugin_report)
        return self._execute_request(idents, request)

    def _next_count(self) -> int:
        self.execution_count += 1
        return self.execution_count

    async def _finish_pass_through(self, cell: PassThroughCell) -> None:
        failure = await cell.finish()
        if failure is None:
            content = cell.request["content"]
            silent = bool(content.get("silent", False))
            if content.get("store_history", not silent) and not silent:
                self.cell_history.add(self.execution_count, content.get("code", ""))
            return
        if isinstance(failure, asyncio.CancelledError) and self.shutting_down:
            raise failure
        reply = await self.cells.pass_through_failure(failure)
        self.cells.end(cell.idents, cell.request, {}).send(reply)  # the kernel will not

    async def _execute_request(self, idents: list[bytes], request: dict[str, Any]) -> None:
        """A cell run by silik: busy, execute_input, the cell, its reply, idle."""
        content = request["content"]
        code = content.get("code", "")
        silent = bool(content.get("silent", False))
        self._publish_status("busy", "shell")
        metadata = self.init_metadata(request)
        if not silent:
            self.execution_count += 1
            self._publish_execute_input(code, request, self.execution_count)
        end = self.frontend.cell_end = self.cells.end(idents, request, metadata)
        try:
            reply = await self.do_execute(
                code,
                silent,
                content.get("store_history", not silent),
                content.get("user_expressions") or {},
                bool(content.get("allow_stdin", False)),
                cell_meta=request.get("metadata"),
                cell_id=(request.get("metadata") or {}).get("cellId"),
            )
        except Exception as exc:
            log.error("internal error running a cell", exc_info=True)
            reply = self.cells.error(SilikError.internal(exc))
        finally:
            self.frontend.cell_end = None
            self.frontend.drop_early()
        end.send(reply)

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        self.frontend.payloads = []
        self.state.allow_stdin = allow_stdin
        self.state.interrupted = False
        if self._plugin_report and not silent:
            problems, self._plugin_report = self._plugin_report, []
            text = "warning: some silik plugins were not loaded:\n  " + "\n  ".join(problems)
            self.frontend.print(text + "\nThe other commands work; `help` lists them.", "stderr")
        if store_history and not silent:
            self.cell_history.add(self.execution_count, code)
        stripped = code.strip()
        if self.connect.active and not is_escape(stripped):
            if stripped.startswith("//"):
                # `//cmd` reaches a nested silik as `/cmd`: one slash per level.
                code = code.lstrip()[1:]
            options = ExecuteOptions(
                silent=silent,
                store_history=store_history,
                user_expressions=user_expressions or {},
                allow_stdin=allow_stdin,
                metadata=cell_meta or {},
            )
            return await self.run_cancellable(
                self.cells.connected(code, options), self.cells.interrupted
            )
        if self.connect.active and stripped.startswith("/cmd "):
            code = stripped[len("/cmd ") :]
        plan = self.frontend.take_plan(code)
        return await self.run_cancellable(self.cells.commands(code, plan), self.cells.interrupted)

    # -- while typing: connect mode asks the kernel, command mode answers ----------
    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return await self.assist.complete(code, cursor_pos)

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        return await self.assist.inspect(code, cursor_pos, detail_level)

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        return await self.assist.is_complete(code)

    async def history_reply(
        self, access: str, output: bool, raw: bool, session: int | None, query: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.assist.history(access, output, raw, session, query)

    # -- interrupt, comms ----------------------------------------------------
    async def on_interrupt(self) -> None:
        await interrupt_cell(self.manager, self.state, self.cancel_cell)

    async def comm_info_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        content = await self.comms.info(parent["content"])
        self.session.send(stream, "comm_info_reply", content, parent, ident)

    async def _comm_from_frontend(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        self.comms.from_frontend(parent)

    # -- shutdown ------------------------------------------------------------
    async def _stop_everything(self) -> None:
        self.shutting_down = True
        await stop_everything(self.manager, self.bridge.server, self.mcp)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        """Runs on the control thread: stop every owned sub-kernel on the main loop."""
        self.shutting_down = True
        remove_private_dir()  # first, and here: a busy main loop must not delay it
        try:
            # jupyter_client sends SIGTERM after 2.5 s and SIGKILL after 5 s: be done before.
            await self.on_main_loop(self._stop_everything(), timeout=SHUTDOWN_WAIT)
        except Exception:
            log.exception("stopping sub-kernels at shutdown")
        kill_children_now(self.manager)
        return {"status": "ok", "restart": restart}

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        async def stop() -> None:
            try:
                await asyncio.wait_for(self._stop_everything(), timeout=SHUTDOWN_WAIT)
            except Exception:
                log.exception("stopping sub-kernels on SIGTERM")
            kill_children_now(self.manager)
            self.io_loop.stop()

        self.io_loop.add_callback_from_signal(lambda: asyncio.ensure_future(stop()))
