"""What silik's kernels (the silik kernel and agent kernels) share on top of
ipykernel's Kernel: state on the main loop, a cell an interrupt can cancel,
error replies, and the history of their cells."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ipykernel._version import kernel_protocol_version
from ipykernel.jsonutil import json_clean
from ipykernel.kernelbase import Kernel

from silik_kernel.kernel.cell_history import CellHistory
from silik_kernel.kernel.requests import (
    BadRequest,
    check_execute,
    clamp_cursors,
    complete_args,
    failed,
    history_args,
    inspect_args,
    is_complete_code,
    unreadable,
)
from silik_kernel.protocol.wire import signer

log = logging.getLogger("silik.kernel")


class MainLoopKernel(Kernel):
    """A kernel whose state lives on the main event loop.

    Control messages (interrupt, shutdown) arrive on ipykernel's control thread;
    :meth:`on_main_loop` runs a coroutine on the main loop and waits for it.
    """

    _main_loop: asyncio.AbstractEventLoop | None = None
    #: the running cell's task (or future): what an interrupt that reaches no
    #: kernel cancels
    cell_task: asyncio.Future | None = None
    shutting_down = False
    #: the kernel's own cells, for history requests
    cell_history: CellHistory

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Frontends open comms to every kernel (JupyterLab's widget manager does).
        # Without comm targets, answer as the spec says a kernel without the
        # target must: close the comm; drop messages to comms that do not exist.
        # (ipykernel's Kernel logs "Unknown message type" for each of them.)
        self.shell_handlers["comm_open"] = self.refuse_comm
        self.shell_handlers["comm_msg"] = self.shell_handlers["comm_close"] = self.ignore_comm

    def refuse_comm(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        comm_id = parent["content"].get("comm_id", "")
        self.session.send(
            self.iopub_socket,
            "comm_close",
            {"comm_id": comm_id, "data": {}},
            parent,
            ident=self._topic("comm_close"),
        )

    def ignore_comm(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        return None

    @property
    def kernel_info(self) -> dict[str, Any]:
        # No subshells (the app disables them) and no debugger. ipykernel's own
        # kernel_info imports its debugger (debugpy: ~7 MB, ~70 ms) to find that out.
        return {
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": self.help_links,
            "supported_features": [],
        }

    def start(self) -> None:
        super().start()
        self._main_loop = asyncio.get_event_loop()

    async def on_main_loop(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """From the control thread: run ``coro`` on the main loop, wait at most ``timeout``."""
        if self._main_loop is None or not self._main_loop.is_running():
            coro.close()
            return None
        fut = asyncio.run_coroutine_threadsafe(coro, self._main_loop)
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout=timeout)

    async def ask_frontend(
        self,
        prompt: str,
        password: bool,
        parent: dict[str, Any],
        ident: Any,
        stop: Callable[[], bool] = lambda: False,
    ) -> str:
        """An input_request to the frontend, awaited without blocking the main loop.

        ipykernel's own raw_input blocks the loop until the answer comes; here the
        loop keeps serving (bridges, other kernels' output), and ``stop()`` (an
        interrupt, say) ends the wait with "".
        """
        while self.stdin_socket.poll(0):  # drop stale replies
            self.stdin_socket.recv_multipart()
        self.session.send(
            self.stdin_socket,
            "input_request",
            {"prompt": prompt, "password": password},
            parent,
            ident=ident,
        )
        while not stop():
            if self.stdin_socket.poll(0):
                _ident, reply = self.session.recv(self.stdin_socket)
                if reply is not None:
                    return str(reply["content"].get("value", ""))
            await asyncio.sleep(0.01)
        return ""

    async def shutdown_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """As ipykernel's, but the main loop stops a moment after the control loop.

        ipykernel stops both loops at once; the control thread then flushes its
        output through the IOPub thread that the main thread is already closing,
        and the process hangs for the 10 s flush timeout before it exits.
        """
        content = await self.do_shutdown(parent["content"]["restart"])
        self.session.send(stream, "shutdown_reply", content, parent, ident=ident)
        self._shutdown_message = self.session.msg("shutdown_reply", content, parent)
        await self._at_shutdown()
        if self.control_stream:
            control_loop = self.control_stream.io_loop
            control_loop.add_callback(control_loop.stop)
        main_loop = self.io_loop
        # Without an IOPub thread (silik's DirectIOPub) there is nothing to wait for.
        delay = 0.2 if getattr(self.iopub_thread, "thread", None) is not None else 0.0
        main_loop.add_callback(lambda: main_loop.call_later(delay, main_loop.stop))

    # -- requests: each answered once, whatever it holds --------------------------
    async def execute_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """As ipykernel's; a request without its code gets an error reply (ipykernel
        logs it and sends none)."""
        try:
            check_execute(parent)
        except BadRequest as exc:
            content = failed("execute_reply", exc.ename, str(exc))
            content["execution_count"] = self.execution_count
            self.session.send(stream, "execute_reply", content, parent, ident)
            return
        await super().execute_request(stream, ident, parent)

    async def complete_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        async def answer(content: Any) -> dict[str, Any]:
            code, cursor = complete_args(content)
            return clamp_cursors(await self.do_complete(code, cursor), code)

        await self._answer(stream, ident, parent, "complete_reply", answer)

    async def inspect_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        async def answer(content: Any) -> dict[str, Any]:
            return await self.do_inspect(*inspect_args(content))

        await self._answer(stream, ident, parent, "inspect_reply", answer)

    async def is_complete_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        async def answer(content: Any) -> dict[str, Any]:
            return await self.do_is_complete(is_complete_code(content))

        await self._answer(stream, ident, parent, "is_complete_reply", answer)

    async def history_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        async def answer(content: Any) -> dict[str, Any]:
            return await self.do_history(**history_args(content))

        await self._answer(stream, ident, parent, "history_reply", answer)

    async def _answer(
        self,
        stream: Any,
        ident: Any,
        parent: dict[str, Any],
        reply_type: str,
        answer: Callable[[Any], Coroutine[Any, Any, dict[str, Any]]],
    ) -> None:
        """Send ``answer(content)`` as the reply; a request that does not fit the spec,
        or a failure of ours, gets an error reply (ipykernel would send none)."""
        try:
            content = json_clean(await answer(parent["content"]))
        except BadRequest as exc:
            content = failed(reply_type, exc.ename, str(exc))
        except Exception as exc:
            log.error("internal error answering a %s", reply_type, exc_info=True)
            evalue = f"internal error: {type(exc).__name__}: {exc}"
            content = failed(reply_type, "InternalError", evalue)
        self.session.send(stream, reply_type, content, parent, ident)

    async def dispatch_shell(
        self, msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False
    ) -> None:
        """As ipykernel's, and a signed request it cannot read gets an error reply."""
        before = self.get_parent("shell")
        await super().dispatch_shell(msg, subshell_id=subshell_id, concurrent=concurrent)
        if len(msg) > 1 and self.get_parent("shell") is before:  # not read: not its parent
            self._answer_unreadable(msg)

    def _answer_unreadable(self, msg: list[Any]) -> None:
        found = unreadable(signer(self.session), msg)
        if found is None:
            return
        idents, header = found
        msg_type = header["msg_type"]
        reply_type = msg_type[: -len("_request")] + "_reply"
        evalue = f"the {msg_type} could not be read (its parts are not valid JSON objects)"
        content = failed(reply_type, "InvalidMessage", evalue + "; fix the client that sent it")
        if reply_type == "execute_reply":
            content["execution_count"] = self.execution_count
        parent = {"header": header}
        self._publish_status("busy", "shell", parent)
        self.session.send(self.shell_stream, reply_type, content, parent, idents)
        self._publish_status("idle", "shell", parent)

    async def do_history(
        self,
        hist_access_type: str,
        output: bool,
        raw: bool,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> dict[str, Any]:
        query = {"start": start, "stop": stop, "n": n, "pattern": pattern, "unique": unique}
        return await self.history_reply(hist_access_type, output, raw, session, query)

    async def history_reply(
        self, access: str, output: bool, raw: bool, session: int | None, query: dict[str, Any]
    ) -> dict[str, Any]:
        """A history_reply's content from the kernel's own cells; ``query`` holds
        start, stop, n, pattern and unique."""
        return self.cell_history.reply(access, output, **query)

    async def run_cancellable(
        self, coro: Coroutine[Any, Any, dict[str, Any]], interrupted: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Run a cell so that an interrupt can cancel it; a cancelled cell replies
        ``interrupted()``.

        In the shell message's own task: a task of its own would cost a turn of the
        loop before the cell's first request leaves.
        """
        task = asyncio.current_task()
        self.cell_task = task
        try:
            return await coro
        except asyncio.CancelledError:
            if self.shutting_down or task is None:
                raise
            task.uncancel()  # handled: the shell task goes on to reply
            return interrupted()
        finally:
            self.cell_task = None

    async def interrupt_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Runs on the control thread: hand the work to the main loop."""
        if self._main_loop is not None:
            self._main_loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.on_interrupt()))
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    async def on_interrupt(self) -> None:
        """On the main loop: stop the running cell."""
        self.cancel_cell()

    def cancel_cell(self) -> None:
        task = self.cell_task
        if task is not None and not task.done():
            task.cancel()


def error_content(ename: str, evalue: str, traceback: list[str]) -> dict[str, Any]:
    """An error's content, as an ``error`` message and a failed reply carry it."""
    return {"ename": ename, "evalue": evalue, "traceback": list(traceback)}


def error_reply(execution_count: int, content: Mapping[str, Any]) -> dict[str, Any]:
    """A failed cell's execute_reply content (spec 5.3: ename, evalue, traceback)."""
    return {
        "status": "error",
        "execution_count": execution_count,
        "ename": content.get("ename"),
        "evalue": content.get("evalue"),
        "traceback": list(content.get("traceback") or []),
    }


def complete_reply(
    cursor_pos: int, matches: list[str] | None = None, replaced: int = 0
) -> dict[str, Any]:
    """A complete_reply's content: ``matches`` replace the ``replaced`` characters
    before the cursor (no matches: nothing to replace)."""
    return {
        "status": "ok",
        "matches": matches or [],
        "cursor_start": cursor_pos - replaced,
        "cursor_end": cursor_pos,
        "metadata": {},
    }


def ok_reply(execution_count: int, payload: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "status": "ok",
        "execution_count": execution_count,
        "payload": payload if payload is not None else [],
        "user_expressions": {},
    }
