"""SilikKernel: the thin ipykernel adapter.

Two modes. In command mode a cell is silik commands (commands.py). In connect
mode a cell goes to one sub-kernel and every message of that sub-kernel comes
back as if the frontend talked to it directly. ``run`` and connect mode share
one path: :meth:`SilikKernel.relay` consuming ``SubKernel.execute()``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
from typing import Any

from ipykernel.kernelbase import Kernel

from . import __version__
from .builtin_commands import builtins
from .commands import CommandRegistry, Context, Output, SubKernelError
from .errors import SilikError
from .manager import SilikManager
from .parsing import Line, UnterminatedQuote, split_lines
from .subkernel import ExecuteOptions, Message

log = logging.getLogger("silik.kernel")

CONNECT_ESCAPES = ("/cmd", "<")
RELAYED_IOPUB = frozenset(
    {
        "stream",
        "display_data",
        "update_display_data",
        "execute_result",
        "error",
        "clear_output",
        "comm_open",
        "comm_msg",
        "comm_close",
    }
)


class CellStopped(Exception):
    """A line of a multi-line cell failed; the error was already reported."""


class SilikKernel(Kernel):
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

    #: The commands this kernel understands. Subclasses may copy and extend it.
    commands: CommandRegistry = builtins

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manager = SilikManager()
        self.manager.on_unrouted = self._forward_unrouted
        self.connected_id: str | None = None
        self._relay_path: str | None = None  # the kernel a relay is running on
        self._cell_task: asyncio.Task | None = None
        self._interrupted = False
        self._history: list[tuple[int, int, str]] = []
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._shutting_down = False
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = self._comm_from_frontend
        atexit.register(self._kill_children_at_exit)

    @property
    def kernel_info(self) -> dict[str, Any]:
        info = super().kernel_info
        # No subshells (disabled in the app) and no debugger (not implemented).
        info["supported_features"] = []
        return info

    def start(self) -> None:
        super().start()
        self._main_loop = asyncio.get_event_loop()
        signal.signal(signal.SIGTERM, self._on_sigterm)

    # -- Frontend protocol used by commands --------------------------------
    @property
    def connected_path(self) -> str | None:
        rec = self.manager.records.get(self.connected_id or "")
        return rec.entry.path if rec is not None and rec.entry.parent is not None else None

    def enter_connect_mode(self, path: str) -> None:
        self.connected_id = self.manager.record(path).entry.kernel_id

    def leave_connect_mode(self) -> None:
        self.connected_id = None

    def request_exit(self) -> None:
        self._payloads.append({"source": "ask_exit", "keepkernel": False})

    def print(self, text: str, name: str = "stdout") -> None:
        if not text.endswith("\n"):
            text += "\n"
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.send_response(
            self.iopub_socket,
            "display_data",
            {"data": data, "metadata": metadata or {}, "transient": {}},
        )

    async def relay(
        self, path: str, code: str, options: ExecuteOptions | None = None
    ) -> dict[str, Any]:
        """Run ``code`` on the sub-kernel at ``path`` and forward its messages to this cell.

        Returns the sub-kernel's execute_reply content.
        """
        parent = self.get_parent("shell")
        opts = options or ExecuteOptions(allow_stdin=self._allow_stdin)
        notice = self.manager.take_restart_notice(path)
        if notice:
            self.print("warning: " + notice, "stderr")
        sub = self.manager.subkernel(path)
        self._relay_path = self.manager.record(path).entry.path
        try:
            async for channel, msg in self.manager.execute(
                path, code, opts, late=lambda ch, m: self._forward_late(ch, m, parent)
            ):
                if channel == "iopub":
                    self._forward_iopub(msg, parent)
                elif channel == "stdin":
                    if msg["header"]["msg_type"] == "input_request":
                        sub.input_reply(await self._ask_frontend(msg["content"], parent))
                elif channel == "shell":
                    return msg["content"]
        finally:
            self._relay_path = None
        raise SilikError("the kernel sent no reply", hint=None)

    def _forward_iopub(self, msg: Message, parent: dict[str, Any]) -> None:
        msg_type = msg["header"]["msg_type"]
        if msg_type not in RELAYED_IOPUB:
            return  # status and execute_input are ours to publish
        self.session.send(
            self.iopub_socket,
            msg_type,
            msg["content"],
            parent=parent,
            metadata=msg.get("metadata") or {},
            buffers=msg.get("buffers") or None,
            ident=self._topic(msg_type),
        )

    def _forward_late(self, channel: str, msg: Message, parent: dict[str, Any]) -> None:
        """Output that arrives after its cell finished (threads, timers) goes to that cell."""
        if channel == "iopub":
            self._forward_iopub(msg, parent)

    def _forward_unrouted(self, kernel_id: str, channel: str, msg: Message) -> None:
        if kernel_id == self.connected_id and channel == "iopub":
            self._forward_iopub(msg, {})

    async def _ask_frontend(self, content: dict[str, Any], parent: dict[str, Any]) -> str:
        """Relay an input_request to our frontend and wait for its answer, interruptibly."""
        if not self._allow_stdin:
            return ""
        ident = self._get_shell_context_var(self._shell_parent_ident)
        while self.stdin_socket.poll(0):  # drop stale replies
            self.stdin_socket.recv_multipart()
        self.session.send(
            self.stdin_socket,
            "input_request",
            {"prompt": content.get("prompt", ""), "password": bool(content.get("password"))},
            parent,
            ident=ident,
        )
        while True:
            if self.stdin_socket.poll(0):
                _ident, reply = self.session.recv(self.stdin_socket)
                if reply is not None:
                    return reply["content"].get("value", "")
            await asyncio.sleep(0.01)

    # -- execution ---------------------------------------------------------
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
        self._payloads: list[dict[str, Any]] = []
        self._interrupted = False
        if store_history and not silent:
            self._history.append((1, self.execution_count, code))
        stripped = code.strip()
        if self.connected_id is not None and not _is_escape(stripped):
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
            return await self._run_cell(self._execute_connected(code, options))
        if self.connected_id is not None and stripped.startswith("/cmd "):
            code = stripped[len("/cmd ") :]
        return await self._run_cell(self._execute_commands(code))

    async def _run_cell(self, coro: Any) -> dict[str, Any]:
        """Run a cell as a task so an interrupt can cancel it."""
        self._cell_task = asyncio.ensure_future(coro)
        try:
            return await self._cell_task
        except asyncio.CancelledError:
            if self._shutting_down:
                raise
            return self._error_reply(
                SilikError("interrupted", hint=None), ename="KeyboardInterrupt", publish=True
            )
        finally:
            self._cell_task = None

    async def _execute_connected(self, code: str, options: ExecuteOptions) -> dict[str, Any]:
        path = self.connected_path
        assert path is not None
        try:
            reply = await self.relay(path, code, options)
        except SilikError as exc:
            dead = self.manager.records.get(self.connected_id or "")
            if dead is None or dead.status == "dead":
                self.leave_connect_mode()
                exc = SilikError(exc.message + "\nBack in silik command mode.", exc.hint)
            return self._error_reply(exc, publish=True)
        reply = dict(reply)
        if isinstance(reply.get("execution_count"), int):
            self.execution_count = reply["execution_count"]
        reply.setdefault("payload", [])
        reply["payload"] = list(reply["payload"]) + self._payloads
        return reply

    async def _execute_commands(self, code: str) -> dict[str, Any]:
        try:
            lines = split_lines(code)
        except UnterminatedQuote as exc:
            return self._error_reply(exc, publish=True)
        try:
            await self._run_lines(lines, None)
        except CellStopped as stop:
            return stop.args[0]
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": self._payloads,
            "user_expressions": {},
        }

    def _context(self) -> Context:
        return Context(self.manager, self, self.commands, run_lines=self._run_lines)

    async def _run_lines(self, lines: list[Line], origin: str | None) -> None:
        """Run command lines in order; the first failure stops everything (CellStopped)."""
        many = len(lines) > 1 or origin is not None
        for line in lines:
            if self._interrupted:
                raise CellStopped(
                    self._error_reply(
                        SilikError("interrupted", hint=None),
                        ename="KeyboardInterrupt",
                        publish=True,
                    )
                )
            was_connected = self.connected_id
            try:
                await self._run_line(line)
            except SubKernelError as exc:
                raise CellStopped(
                    self._error_reply(exc, publish=False, content=exc.content)
                ) from None
            except SilikError as exc:
                where = f"{origin} line {line.number}" if origin else f"line {line.number}"
                if many:
                    exc = SilikError(f"{where}: `{_short(line.text)}`: {exc.message}", exc.hint)
                raise CellStopped(self._error_reply(exc, publish=True)) from None
            except (CellStopped, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.error("internal error running %r", line.text, exc_info=True)
                err = SilikError(
                    f"internal error while running `{_short(line.text)}`: {type(exc).__name__}: {exc}",
                    hint="this is a silik bug; the kernel log has the full traceback",
                )
                raise CellStopped(self._error_reply(err, publish=True)) from None
            if self.connected_id != was_connected:
                return  # a line that switches mode ends the cell

    async def _run_line(self, line: Line) -> None:
        words = list(line.words)
        head = words[0]
        if head.startswith(">") and head != ">":
            words = [">", head[1:], *words[1:]]
        if head.startswith("<") and head != "<" or head.startswith("/cmd") and head != "/cmd":
            raise SilikError(f"unknown command {head!r}", hint="`/cmd` or `<` leave connect mode")
        cmd = self.commands.get(words[0])
        if "--help" in words[1:] or "-h" in words[1:2]:
            self.print(cmd.help())
            return
        values = cmd.parse(words[1:])
        result = await cmd.handler(self._context(), values)
        if result is None:
            return
        if isinstance(result, str):
            result = Output(result)
        self._show(result)

    def _show(self, out: Output) -> None:
        if not out.text and not out.html:
            return
        if out.html is None:
            self.print(out.text)
        else:
            self.display({"text/plain": out.text, "text/html": out.html})

    def _error_reply(
        self,
        exc: SilikError,
        *,
        publish: bool,
        ename: str | None = None,
        content: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if content is None:
            tb = [f"{ename or exc.ename}: {exc.message}"]
            if exc.hint:
                tb.append(f"hint: {exc.hint}")
            content = {"ename": ename or exc.ename, "evalue": str(exc.message), "traceback": tb}
        else:
            content = {k: content.get(k) for k in ("ename", "evalue", "traceback")}
            content["traceback"] = list(content.get("traceback") or [])
        if publish:
            self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    # -- interrupt, completion, inspection -------------------------------------
    async def interrupt_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Runs on the control thread: hand the work to the main loop."""
        if self._main_loop is not None:
            self._main_loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._interrupt()))
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    async def _interrupt(self) -> None:
        self._interrupted = True
        path = self._relay_path
        if path is not None:
            try:
                await self.manager.interrupt(path)
                return
            except SilikError:
                pass
        if self._cell_task is not None and not self._cell_task.done():
            self._cell_task.cancel()

    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        if self.connected_id is not None and not code.lstrip().startswith("/cmd"):
            try:
                reply = await self.manager.subkernel(self.connected_path or "").request(
                    "complete_request", {"code": code, "cursor_pos": cursor_pos}, timeout=5
                )
                return reply["content"]
            except SilikError:
                return _no_matches(cursor_pos)
        text = code[:cursor_pos]
        line = text.rsplit("\n", 1)[-1]
        if self.connected_id is not None and line.startswith("/cmd "):
            line = line[len("/cmd ") :]
        matches, replaced = self.commands.complete(self._context(), line)
        return {
            "status": "ok",
            "matches": matches,
            "cursor_start": cursor_pos - replaced,
            "cursor_end": cursor_pos,
            "metadata": {},
        }

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        if self.connected_id is not None:
            try:
                reply = await self.manager.subkernel(self.connected_path or "").request(
                    "inspect_request",
                    {"code": code, "cursor_pos": cursor_pos, "detail_level": detail_level},
                    timeout=5,
                )
                return reply["content"]
            except SilikError:
                return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        line = code[:cursor_pos].rsplit("\n", 1)[-1] + code[cursor_pos:].split("\n", 1)[0]
        first = line.split()[0] if line.split() else ""
        try:
            cmd = self.commands.get(first)
        except SilikError:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "data": {"text/plain": cmd.help()}, "metadata": {}}

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        if self.connected_id is not None and not _is_escape(code.strip()):
            try:
                reply = await self.manager.subkernel(self.connected_path or "").request(
                    "is_complete_request", {"code": code}, timeout=5
                )
                return reply["content"]
            except SilikError:
                return {"status": "unknown"}
        try:
            lines = split_lines(code)
        except UnterminatedQuote:
            return {"status": "incomplete", "indent": ""}
        if code.endswith("\\\n") or code.endswith("\\"):
            return {"status": "incomplete", "indent": ""}
        for line in lines:
            words = line.words
            head = words[0]
            if head.startswith(">") or head in CONNECT_ESCAPES:
                continue
            try:
                self.commands.get(head).parse(words[1:])
            except SilikError:
                return {"status": "invalid"}
        return {"status": "complete"}

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
        if self.connected_id is not None:
            try:
                content = {
                    "hist_access_type": hist_access_type,
                    "output": output,
                    "raw": raw,
                    "session": session,
                    "start": start,
                    "stop": stop,
                    "n": n,
                    "pattern": pattern,
                    "unique": unique,
                }
                content = {k: v for k, v in content.items() if v is not None}
                reply = await self.manager.subkernel(self.connected_path or "").request(
                    "history_request", content, timeout=5
                )
                return reply["content"]
            except SilikError:
                pass
        items = list(self._history)
        if hist_access_type == "tail":
            items = items[-(n or 10) :]
        elif hist_access_type == "search" and pattern:
            import fnmatch

            items = [h for h in items if fnmatch.fnmatch(h[2], pattern)]
        if output:
            items = [(s, n_, (src, None)) for s, n_, src in items]  # type: ignore[misc]
        return {"status": "ok", "history": items}

    async def comm_info_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        content: dict[str, Any] = {"status": "ok", "comms": {}}
        if self.connected_id is not None:
            try:
                reply = await self.manager.subkernel(self.connected_path or "").request(
                    "comm_info_request", parent["content"], timeout=5
                )
                content = reply["content"]
            except SilikError:
                pass
        self.session.send(stream, "comm_info_reply", content, parent, ident)

    async def _comm_from_frontend(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Widgets: the frontend's comm messages go to the connected sub-kernel."""
        if self.connected_id is None:
            return
        try:
            sub = self.manager.subkernel(self.connected_path or "")
        except SilikError:
            return
        reply_parent = parent
        sub.send(
            "shell",
            parent["header"]["msg_type"],
            parent["content"],
            sink=lambda ch, m: ch == "iopub" and self._forward_iopub(m, reply_parent),
            metadata=parent.get("metadata"),
            buffers=[bytes(b) for b in parent.get("buffers") or []],
        )

    # -- shutdown ----------------------------------------------------------
    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        """Runs on the control thread: stop every owned sub-kernel on the main loop."""
        self._shutting_down = True
        if self._main_loop is not None and self._main_loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.manager.shutdown_all(), self._main_loop)
            try:
                await asyncio.wait_for(asyncio.wrap_future(fut), timeout=15)
            except Exception:
                log.exception("stopping sub-kernels at shutdown")
        self._kill_children_at_exit()
        return {"status": "ok", "restart": restart}

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
        main_loop.add_callback(lambda: main_loop.call_later(0.2, main_loop.stop))

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        async def stop() -> None:
            self._shutting_down = True
            try:
                await asyncio.wait_for(self.manager.shutdown_all(), timeout=10)
            except Exception:
                log.exception("stopping sub-kernels on SIGTERM")
            self._kill_children_at_exit()
            self.io_loop.stop()

        self.io_loop.add_callback_from_signal(lambda: asyncio.ensure_future(stop()))

    def _kill_children_at_exit(self) -> None:
        """Last resort: no owned sub-kernel outlives silik."""
        for rec in list(self.manager.records.values()):
            sub = rec.sub
            if sub is None or sub.km is None:
                continue
            proc = getattr(sub.km.provisioner, "process", None) if sub.km.provisioner else None
            if proc is not None and proc.poll() is None:
                try:
                    proc.kill()
                    proc.wait(timeout=2)
                except Exception:
                    pass
            try:
                sub.km.cleanup_connection_file()
            except Exception:
                pass


def _is_escape(stripped: str) -> bool:
    return stripped in CONNECT_ESCAPES or stripped.startswith("/cmd ")


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _no_matches(cursor_pos: int) -> dict[str, Any]:
    return {
        "status": "ok",
        "matches": [],
        "cursor_start": cursor_pos,
        "cursor_end": cursor_pos,
        "metadata": {},
    }
