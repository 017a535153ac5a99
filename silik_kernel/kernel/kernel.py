"""SilikKernel: the thin ipykernel adapter.

Two modes. In command mode a cell is silik commands (commands.py). In connect
mode a cell goes to one sub-kernel and every message of that sub-kernel comes
back as if the frontend talked to it directly: an ordinary connect-mode cell is
passed through frame for frame (passthrough.py). ``run`` and the connect-mode
cells that need silik share one path: :meth:`SilikKernel.relay` consuming a
sub-kernel's ``Execution``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

import zmq
from jupyter_core.paths import jupyter_runtime_dir

from silik_kernel import __version__
from silik_kernel.commands.builtin import builtins, run_on_kernel
from silik_kernel.commands.parsing import Line, UnterminatedQuote, split_lines
from silik_kernel.commands.plugins import load_plugins
from silik_kernel.commands.registry import (
    CommandRegistry,
    Context,
    Output,
    SubKernelError,
)
from silik_kernel.commands.runner import run_command_text, run_words
from silik_kernel.errors import SilikError
from silik_kernel.kernel.base import MainLoopKernel
from silik_kernel.kernel.connect import PassThroughCell, parse_request
from silik_kernel.kernel.iopub import DirectIOPub
from silik_kernel.manager import KernelRecord, SilikManager
from silik_kernel.protocol.messages import RELAYED_IOPUB
from silik_kernel.protocol.wire import DELIM, readable, recv_frames, send_frames, signer
from silik_kernel.service import ManagerService
from silik_kernel.subkernels.execution import ExecuteOptions, Execution, Message
from silik_kernel.subkernels.subkernel import SubKernel

if TYPE_CHECKING:
    from silik_kernel.bridge import BridgeServer

log = logging.getLogger("silik.kernel")

CONNECT_ESCAPES = ("/cmd", "<")


class CellStopped(Exception):
    """A line of a multi-line cell failed; the error was already reported."""


class CellEnd:
    """The end of a cell run by silik (``_execute_request``): its reply and idle.

    A cell that is one `run CODE PATH` line ends from the callbacks that bring its
    kernel's messages (an :class:`~silik_kernel.subkernel.Ender` of its run): its
    reply and idle are built when the kernel's reply arrives (the kernel's idle
    follows it by 0.3 ms or more here) and leave the moment that idle does. The
    cell's task still unwinds the command layers, to the same reply (checked),
    and sends nothing. Endings that take words of silik's own (an aborted run, a
    death) are left to that general path.
    """

    __slots__ = ("kernel", "idents", "request", "metadata", "sent", "_ready")

    def __init__(
        self,
        kernel: SilikKernel,
        idents: list[bytes],
        request: dict[str, Any],
        metadata: dict[str, Any],
    ) -> None:
        self.kernel = kernel
        self.idents = idents
        self.request = request
        self.metadata = metadata
        self.sent: dict[str, Any] | None = None  # the reply, once sent
        self._ready: tuple[dict[str, Any], list[bytes], list[bytes]] | None = None

    def prepare(self, reply_msg: Message) -> None:
        k = self.kernel
        if k._cell_end is not self:
            return
        content = reply_msg["content"]
        status = content.get("status")
        if status == "ok":
            reply = k._ok_reply()
        elif status == "error":  # as _run_lines reports run_on_kernel's SubKernelError
            reply = k._error_reply(SubKernelError(content), publish=False, content=content)
        else:
            return
        metadata = k.finish_metadata(self.request, self.metadata, reply)
        self._ready = (reply, *k.end_frames(self.idents, self.request, reply, metadata))

    def finish(self, pending: Sequence[tuple[str, Message]], reply_msg: Message) -> bool:
        k = self.kernel
        if k._cell_end is not self:
            return False
        for channel, msg in pending:
            if channel != "iopub" or msg["header"]["msg_type"] in RELAYED_IOPUB:
                return False  # output the reader has yet to forward (its execute_input is not)
        if self._ready is None:
            self.prepare(reply_msg)
            if self._ready is None:
                return False
        reply, reply_frames, idle_frames = self._ready
        self.sent = reply
        k._cell_task = None  # finished: an interrupt has nothing left to cancel
        k.send_end(self.request, reply, reply_frames, idle_frames)
        return True


class SilikKernel(MainLoopKernel):
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
    commands: CommandRegistry = builtins

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "commands" not in vars(cls):
            cls.commands = cls.commands.copy()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = load_plugins(type(self).commands)
        self._plugin_report = list(self.commands.problems)  # shown once, on the first cell
        self.manager = SilikManager()
        self.manager.on_unrouted = self._forward_unrouted
        self.bridge: BridgeServer | None = None
        self.connected_id: str | None = None
        self._running_paths: list[str] = []  # kernels an interrupt must reach (relay, broadcast)
        self._shell_sock: zmq.Socket | None = None  # read by _read_shell (None: the stream reads)
        # (path, code, execution, tree path) of a `run` cell sent as it arrived
        self._early_run: tuple[str, str, Execution, str] | None = None
        self._cell_task: asyncio.Task | None = None
        self._cell_end: CellEnd | None = None  # of the cell _execute_request runs
        self._topics: dict[str, bytes] = {}  # msg_type -> IOPub topic (see _topic)
        self._interrupted = False
        self._history: list[tuple[int, int, str]] = []
        self._comm_kernels: dict[str, str] = {}  # comm_id -> kernel_id at the other end
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._shutting_down = False
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = self._comm_from_frontend
        atexit.register(self._kill_children_at_exit)

    def start(self) -> None:
        super().start()
        if self.shell_stream is not None:
            # ipykernel runs each shell message as a task in one shared context; we do
            # the same, except that connect mode sends a cell on at once (_on_shell).
            self._shell_task_context = copy_context()
            self._shell_queued = 0
            self._read_shell_from(self.shell_stream)
        iopub = self.iopub_thread
        if isinstance(iopub, DirectIOPub):  # silik's app; a plain IOPub thread otherwise
            if self._main_loop is not None:
                iopub.watch(self._main_loop)  # answer subscriptions on the main loop
            self._publish_now = iopub.send_now
            self._flush_iopub = iopub.flush
        else:
            self._publish_now = self.iopub_socket.send_multipart
            self._flush_iopub = lambda: None
        self._signer = signer(self.session)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.manager.prepare_children = self._serve_bridge

    def _serve_bridge(self) -> None:
        """Serve the manager to the kernels we start (agents act on this tree through it).

        Started with the first child, so an idle silik does not pay for it.
        """
        if self.bridge is not None:
            return
        from silik_kernel.bridge import BRIDGE_FILE_ENV, BridgeServer

        self.service = ManagerService(
            self.manager, lambda line: run_command_text(self.manager, self.commands, line)
        )
        self.bridge = BridgeServer(self.service, jupyter_runtime_dir())
        self.manager.child_env[BRIDGE_FILE_ENV] = self.bridge.start()

    async def _stop_everything(self) -> None:
        """Every owned sub-kernel, then the bridge."""
        try:
            await self.manager.shutdown_all()
        finally:
            if self.bridge is not None:
                await self.bridge.stop()

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

    def forward(self, msg: Message) -> None:
        self._forward_iopub(msg, self.get_parent("shell"))

    @contextmanager
    def running(self, path: str) -> Iterator[None]:
        self._running_paths.append(path)
        try:
            yield
        finally:
            self._running_paths.remove(path)

    async def relay(
        self, path: str, code: str, options: ExecuteOptions | None = None
    ) -> dict[str, Any]:
        """Run ``code`` on the sub-kernel at ``path`` and forward its messages to this cell.

        Returns the sub-kernel's execute_reply content.
        """
        parent = self.get_parent("shell")
        early = self._take_early_run(path, code) if options is None else None
        if early is not None:
            run, where = early
            end = self._cell_end
            if end is not None:  # the cell is this one line: it can end with the run
                run.ender = end
        else:
            opts = options or ExecuteOptions(allow_stdin=self._allow_stdin)
            notice = self.manager.take_restart_notice(path)
            if notice:
                self.print("warning: " + notice, "stderr")
            where = self.manager.record(path).entry.path
            run = await self.manager.begin_execute(
                path, code, opts, late=self._late_output(self.manager.subkernel(path))
            )
            self._running_paths.append(where)
        try:
            async for channel, msg in run:
                if channel == "iopub":
                    self._forward_iopub(msg, parent, run.sub.kernel_id)
                elif channel == "stdin":
                    if msg["header"]["msg_type"] == "input_request":
                        run.sub.input_reply(await self._ask_frontend(msg["content"], parent))
                elif channel == "shell":
                    return msg["content"]
        finally:
            run.close()
            self._running_paths.remove(where)
        raise SilikError("the kernel sent no reply", hint=None)

    def _late_output(self, sub: SubKernel) -> Callable[[str, Message], None]:
        """Where a run's output after its end goes: the cell that ran it."""
        parent = self.get_parent("shell")
        kid = sub.kernel_id
        return lambda channel, msg: self._forward_late(channel, msg, parent, kid)

    def _start_early_run(self, content: dict[str, Any]) -> None:
        """A cell that is one `run CODE PATH` line: its request leaves for the kernel
        now, as the cell arrives, before silik publishes its busy and execute_input
        and goes through the command machinery; the cell's :meth:`relay` takes it
        over. Anything unusual (other lines, options, a restarted kernel, a plugin
        report to show, a replaced `run`) is left to the general path."""
        self._drop_early_run()  # of a cell that never started (shutdown)
        code = content.get("code")
        if (
            not isinstance(code, str)
            or not code.lstrip().startswith("run")
            or self.connected_id is not None
            or self._plugin_report
        ):
            return
        try:
            lines = split_lines(code)
            if len(lines) != 1 or lines[0].words[0] != "run":
                return
            words = list(lines[0].words[1:])
            if {"--", "--help", "-h"} & set(words):
                return
            cmd = self.commands.get("run")
            if cmd.handler is not run_on_kernel:
                return
            args = cmd.parse(words)
            rec = self.manager.record(args["path"])
            sub = self.manager.subkernel(args["path"])
            if sub.restarted_unseen or sub.restarting:
                return
            opts = ExecuteOptions(allow_stdin=bool(content.get("allow_stdin", False)))
            run = self.manager.begin_execute_now(
                rec, sub, args["code"], opts, late=self._late_output(sub)
            )
        except (SilikError, UnterminatedQuote):
            return  # the general path reports it
        self._running_paths.append(rec.entry.path)  # an interrupt reaches it from now on
        self._early_run = (args["path"], args["code"], run, rec.entry.path)

    def _take_early_run(self, path: str, code: str) -> tuple[Execution, str] | None:
        early = self._early_run
        if early is None or early[:2] != (path, code):
            self._drop_early_run()
            return None
        self._early_run = None
        return early[2], early[3]

    def _drop_early_run(self) -> None:
        """A cell that ended before its `run` took the request over (interrupted):
        the kernel's output still reaches the cell, as late output."""
        early, self._early_run = self._early_run, None
        if early is not None:
            early[2].close()
            self._running_paths.remove(early[3])

    def _forward_iopub(
        self, msg: Message, parent: dict[str, Any], kernel_id: str | None = None
    ) -> None:
        msg_type = msg["header"]["msg_type"]
        if msg_type not in RELAYED_IOPUB:
            return  # status and execute_input are ours to publish
        if kernel_id is not None and msg_type.startswith("comm_"):
            self._track_comm(msg_type, msg["content"], kernel_id)
        self.session.send(
            self.iopub_socket,
            msg_type,
            msg.get("raw_content") or msg["content"],
            parent=parent,
            metadata=msg.get("metadata") or {},
            buffers=msg.get("buffers") or None,
            ident=self._topic(msg_type),
        )

    def _forward_late(
        self, channel: str, msg: Message, parent: dict[str, Any], kernel_id: str | None = None
    ) -> None:
        """Output that arrives after its cell finished (threads, timers) goes to that cell."""
        if channel == "iopub":
            self._forward_iopub(msg, parent, kernel_id)

    def _forward_unrouted(self, kernel_id: str, channel: str, msg: Message) -> None:
        if channel != "iopub":
            return
        comm_id = msg["content"].get("comm_id") if isinstance(msg.get("content"), dict) else None
        if kernel_id == self.connected_id or self._comm_kernels.get(comm_id or "") == kernel_id:
            self._forward_iopub(msg, {}, kernel_id)

    def _track_comm(self, msg_type: str, content: dict[str, Any], kernel_id: str) -> None:
        """Remember which sub-kernel is the other end of each comm (widgets outlive `/cmd`)."""
        comm_id = content.get("comm_id")
        if not isinstance(comm_id, str):
            return
        if msg_type == "comm_close":
            self._comm_kernels.pop(comm_id, None)
        else:
            self._comm_kernels[comm_id] = kernel_id

    async def _ask_frontend(self, content: dict[str, Any], parent: dict[str, Any]) -> str:
        """Relay an input_request to our frontend and wait for its answer, interruptibly."""
        if not self._allow_stdin:
            return ""
        # An interrupt also reaches the sub-kernel, whose input() then raises: stop waiting.
        return await self.ask_frontend(
            content.get("prompt", ""),
            bool(content.get("password")),
            parent,
            self._get_shell_context_var(self._shell_parent_ident),
            stop=lambda: self._interrupted,
        )

    # -- execution ---------------------------------------------------------
    def _read_shell_from(self, stream: Any) -> None:
        """Read the shell socket when its descriptor signals, not through the ZMQStream
        (its reading costs sugar calls and loop callbacks on every request); the stream
        still sends ipykernel's replies.

        The descriptor is edge-triggered: whatever reads the socket's EVENTS may spend
        the signal of a request arriving meanwhile. The stream reads them whenever it
        updates its state (after each send, in flush), and so do our sends: each time,
        look again.
        """
        update = getattr(stream, "_update_handler", None)
        if update is None:  # another pyzmq: let the stream read, as ipykernel does
            stream.on_recv(self._on_shell, copy=False)
            return
        self._shell_sock = sock = stream.socket
        stream.stop_on_recv()

        def update_then_look(state: int) -> None:
            update(state)
            self._look_at_shell()

        stream._update_handler = update_then_look
        assert self._main_loop is not None
        self._main_loop.add_reader(sock.FD, self._read_shell)
        self._main_loop.call_soon(self._read_shell)  # what came before (its signal is spent)

    def _look_at_shell(self) -> None:
        sock = self._shell_sock
        if sock is None or sock.closed or self._main_loop is None:
            return
        try:
            waiting = readable(sock)
        except zmq.ZMQError:
            return  # closing
        if waiting:
            self._main_loop.call_soon(self._read_shell)

    def _read_shell(self, budget: int = 16) -> None:
        """Take the requests waiting on the shell socket (``budget`` per turn of the loop)."""
        sock = self._shell_sock
        if sock is None:  # the stream reads (see _read_shell_from)
            self.shell_stream.flush(zmq.POLLIN, limit=budget)
            return
        for _ in range(budget):
            try:
                if sock.closed or not readable(sock):
                    return
                frames = recv_frames(sock, copy=False)
            except zmq.ZMQError:
                return  # closing
            try:
                self._on_shell(frames)
            except Exception:
                log.exception("handling a shell message")
        self._look_at_shell()  # more: let the others run first

    def _on_shell(self, msg: list[Any]) -> None:
        """A shell message arrived. With nothing before it in the queue, a cell starts
        right now (in connect mode its request leaves for the sub-kernel at once);
        its task then keeps the queue behind it until it is finished."""
        if self._shell_queued == 0 and not self._aborting:
            try:
                cell = self._shell_task_context.run(self._take_execute, msg)
            except RuntimeError:
                cell = None  # called from inside a shell task (a flush): take the queue
            if cell is not None:
                self._queue_shell(self._hold(cell))
                return
        self._queue_shell(self.shell_main(None, msg))

    def _abort_queues(self, subshell_id: str | None = None) -> None:
        """After a failed cell, abort the cells already waiting behind it, and only those.

        ipykernel stops aborting one loop turn later, and a fast frontend's next cell
        (sent on seeing idle) could fall in that window. Here the end of aborting
        takes its place in the shell queue, behind every message waiting now.
        """
        self._aborting = True
        self._read_shell(budget=1_000_000)  # every waiting message joins the queue now

        async def stop_aborting() -> None:
            async with self._main_asyncio_lock:
                self._aborting = False

        self._queue_shell(stop_aborting())

    async def _hold(self, coro: Any) -> None:
        """Keep the shell queue behind a cell until it is finished."""
        async with self._main_asyncio_lock:
            await coro

    def in_shell_context(self, coro: Any) -> asyncio.Task:
        """A task in the shell messages' shared context (their parent, their stdin ident)."""
        return asyncio.get_event_loop().create_task(coro, context=self._shell_task_context)

    def _queue_shell(self, coro: Any) -> None:
        self._shell_queued += 1
        self.in_shell_context(self._counted(coro))

    async def _counted(self, coro: Any) -> None:
        """Run a queued shell message; the count drops as it ends (not a turn later,
        as a done callback would)."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shell message handler failed")
        finally:
            self._shell_queued -= 1

    async def dispatch_shell(
        self, msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False
    ) -> None:
        """execute_request is ours (_take_execute); ipykernel handles the rest."""
        if not concurrent and not self._aborting:
            cell = self._take_execute(msg)
            if cell is not None:
                await cell
                return
        await super().dispatch_shell(msg, subshell_id=subshell_id, concurrent=concurrent)

    def _take_execute(self, msg: Any) -> Coroutine[Any, Any, None] | None:
        """An authentic execute_request as a started cell (a coroutine to finish it),
        or None for any other message.

        In connect mode an ordinary cell is passed through (passthrough.py); any
        other cell runs here. Either way, what ipykernel's dispatch would add
        (its debug logging, signal handler swaps, a second JSON pass over the
        reply, a send queue) is left out of every cell's round trip.
        """
        if not isinstance(msg, list) or len(msg) < 2:
            return None  # ipykernel's "stop aborting" marker
        try:
            parsed = parse_request(self, msg)
        except (ValueError, TypeError):
            return None  # ipykernel reports it
        if parsed is None:
            return None
        idents, request, frames = parsed
        self.set_parent(idents, request, channel="shell")
        self._signer.record(frames[0])  # as Session.deserialize would
        cell = self._passthrough_cell(idents, request, frames)
        if cell is not None:
            cell.start()
            return cell.finish()
        self._start_early_run(request["content"])
        return self._execute_request(idents, request)

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
        end = self._cell_end = CellEnd(self, idents, request, metadata)
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
            err = SilikError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="this is a silik bug; the kernel log has the full traceback",
            )
            reply = self._error_reply(err, publish=True)
        finally:
            self._cell_end = None
            self._drop_early_run()
        if end.sent is not None:  # the cell ended from its run's callbacks
            if end.sent != reply:
                log.error("a run cell ended with %s, then unwound to %s", end.sent, reply)
            return
        self.finish_cell(idents, request, reply, self.finish_metadata(request, metadata, reply))

    def finish_cell(
        self,
        idents: list[bytes],
        request: dict[str, Any],
        reply: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A cell's execute_reply and idle (for a pass-through cell whose kernel will
        not send them, too)."""
        self.send_end(request, reply, *self.end_frames(idents, request, reply, metadata))

    def end_frames(
        self,
        idents: list[bytes],
        request: dict[str, Any],
        reply: dict[str, Any],
        metadata: dict[str, Any] | None,
    ) -> tuple[list[bytes], list[bytes]]:
        """A cell's execute_reply and idle status, signed, ready to send."""
        session = self.session
        msg = session.msg("execute_reply", reply, request, metadata=metadata)
        idle = session.msg("status", {"execution_state": "idle"}, request)
        reply_frames = session.serialize(msg, ident=idents)
        return reply_frames, session.serialize(idle, ident=self._topic("status"))

    def send_end(
        self,
        request: dict[str, Any],
        reply: dict[str, Any],
        reply_frames: list[bytes],
        idle_frames: list[bytes],
    ) -> None:
        self.abort_after(request, reply)
        self.send_reply(reply_frames)
        self._publish_now(idle_frames)  # the frontend waits for this one

    def abort_after(self, request: dict[str, Any], reply: dict[str, Any]) -> None:
        """After a failed cell (stop_on_error), abort the cells waiting behind it.

        Called before the frontend can see the cell finish: a cell it sends on
        seeing that is not among them.
        """
        content = request["content"]
        if (
            reply.get("status") == "error"
            and content.get("stop_on_error", True)
            and not content.get("silent", False)
        ):
            self._abort_queues()

    def _passthrough_cell(
        self, idents: list[bytes], request: dict[str, Any], frames: list[bytes]
    ) -> PassThroughCell | None:
        """In connect mode, a cell that needs nothing from silik; else None."""
        rec = self.manager.records.get(self.connected_id or "")
        sub = rec.sub if rec is not None else None
        if (
            rec is None
            or sub is None
            or not sub.raw_frames
            or rec.status == "dead"
            or sub.dead_reason
            or sub.restarted_unseen
            or sub.restarting
            or self._plugin_report
        ):
            return None
        code = request["content"].get("code")
        if not isinstance(code, str):
            return None
        stripped = code.strip()
        if _is_escape(stripped) or stripped.startswith("//"):
            return None
        return PassThroughCell(self, sub, rec.entry.path, idents, request, frames)

    def publish_raw(self, msg_type: str, parts: list[bytes]) -> None:
        """Publish a sub-kernel's message as it came, signed with our key."""
        signature = self._signer.sign(parts[1:5])
        # At once: the sub-kernel's order and timing, not one turn of the loop later.
        self._publish_now([self._topic(msg_type), DELIM, signature, *parts[1:]])

    def _topic(self, topic: str) -> bytes:
        """ipykernel's IOPub topic for ``topic`` (a msg_type), built once per type:
        every message silik publishes or relays has one."""
        found = self._topics.get(topic)
        if found is None:
            found = self._topics[topic] = super()._topic(topic)
        return found

    def reply_raw(self, idents: list[bytes], parts: list[bytes]) -> None:
        """Send a sub-kernel's reply as it came, signed with our key, to ``idents``."""
        self.send_reply([*idents, DELIM, self._signer.sign(parts[1:5]), *parts[1:]])

    def send_reply(self, frames: list[Any]) -> None:
        """Send a reply on the shell socket now, after the output published before it."""
        self._flush_iopub()
        stream = self.shell_stream
        if stream.sending():  # replies queued before it go first
            stream.send_multipart(frames)
            stream.flush(zmq.POLLOUT)
            return
        sock = stream.socket
        send_frames(sock, frames)  # a ROUTER never blocks
        self._look_at_shell()  # sending can spend the signal of a request arriving now

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
        # ipykernel's base Kernel leaves this to do_execute (IPythonKernel sets it too).
        self._allow_stdin = allow_stdin
        self._interrupted = False
        if self._plugin_report and not silent:
            problems, self._plugin_report = self._plugin_report, []
            text = "warning: some silik plugins were not loaded:\n  " + "\n  ".join(problems)
            self.print(text + "\nThe other commands work; `help` lists them.", "stderr")
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
        """Run a cell so that an interrupt can cancel it.

        In the shell message's own task: a task of its own would cost a turn of the
        loop before the cell's first request leaves.
        """
        task = asyncio.current_task()
        self._cell_task = task
        try:
            return await coro
        except asyncio.CancelledError:
            if self._shutting_down or task is None:
                raise
            task.uncancel()  # handled: the shell task goes on to reply
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
            return await self._connected_failure(exc)
        reply = dict(reply)
        if isinstance(reply.get("execution_count"), int):
            self.execution_count = reply["execution_count"]
        reply.setdefault("payload", [])
        reply["payload"] = list(reply["payload"]) + self._payloads
        return reply

    async def _connected_failure(self, exc: SilikError) -> dict[str, Any]:
        """A connect-mode cell failed: report it; leave connect mode if the kernel is gone."""
        dead = self.manager.records.get(self.connected_id or "")
        if dead is not None and dead.status == "dead":
            await _await_auto_restart(dead)
        if dead is None or dead.status == "dead":
            self.leave_connect_mode()
            ename = exc.ename
            exc = SilikError(exc.message + "\nBack in silik command mode.", exc.hint)
            exc.ename = ename  # still KernelDied, as with `run`
        return self._error_reply(exc, publish=True)

    async def _execute_commands(self, code: str) -> dict[str, Any]:
        try:
            lines = split_lines(code)
        except UnterminatedQuote as exc:
            return self._error_reply(exc, publish=True)
        try:
            await self._run_lines(lines, None)
        except CellStopped as stop:
            return stop.args[0]
        return self._ok_reply()

    def _ok_reply(self) -> dict[str, Any]:
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
        result = await run_words(self._context(), list(line.words))
        if result is not None:
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
        """Interrupt every kernel the cell runs code on; with none, cancel the cell."""
        self._interrupted = True
        paths = list(dict.fromkeys(self._running_paths))
        results = await asyncio.gather(
            *(self.manager.interrupt(p) for p in paths), return_exceptions=True
        )
        if any(r is None for r in results):
            return
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
        items = _select_history(self._history, hist_access_type, start, stop, n, pattern, unique)
        if output:
            items = [(s, n_, (src, None)) for s, n_, src in items]  # type: ignore[misc]
        return {"status": "ok", "history": items}

    async def comm_info_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """The comms of the connected kernel, and of every kernel a frontend holds comms with."""
        kernel_ids = set(self._comm_kernels.values())
        if self.connected_id is not None:
            kernel_ids.add(self.connected_id)
        comms: dict[str, Any] = {}
        for kernel_id in sorted(kernel_ids):
            sub = self._subkernel_by_id(kernel_id)
            if sub is None:
                continue
            try:
                reply = await sub.request("comm_info_request", parent["content"], timeout=5)
            except SilikError:
                continue
            for comm_id, info in (reply["content"].get("comms") or {}).items():
                comms[comm_id] = info
                self._comm_kernels[comm_id] = kernel_id
        content = {"status": "ok", "comms": comms}
        self.session.send(stream, "comm_info_reply", content, parent, ident)

    async def _comm_from_frontend(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Widgets: a frontend comm message goes to the sub-kernel at the other end of the
        comm, or (for a new comm) to the connected one. With no such kernel, a comm_open is
        refused with comm_close, as a kernel without that comm target would."""
        msg_type = parent["header"]["msg_type"]
        content = parent["content"]
        comm_id = content.get("comm_id") or ""
        kernel_id = self._comm_kernels.get(comm_id) or self.connected_id
        sub = self._subkernel_by_id(kernel_id) if kernel_id else None
        if sub is None:
            self._comm_kernels.pop(comm_id, None)
            if msg_type == "comm_open":
                self.send_response(
                    self.iopub_socket, "comm_close", {"comm_id": comm_id, "data": {}}
                )
            return
        self._track_comm(msg_type, content, sub.kernel_id)
        sent: list[str] = []

        def sink(channel: str, msg: Message) -> None:
            if channel != "iopub":
                return
            if msg["header"]["msg_type"] == "status":
                if msg["content"].get("execution_state") == "idle" and sent:
                    sub.forget(sent[0], late=sink)  # later output still routes, bounded
                return
            self._forward_iopub(msg, parent, sub.kernel_id)

        sent.append(
            sub.send(
                "shell",
                msg_type,
                content,
                sink=sink,
                metadata=parent.get("metadata"),
                buffers=[bytes(b) for b in parent.get("buffers") or []],
            )
        )

    def _subkernel_by_id(self, kernel_id: str) -> SubKernel | None:
        rec = self.manager.records.get(kernel_id)
        if rec is None or rec.sub is None or rec.status == "dead":
            return None
        return rec.sub

    # -- shutdown ----------------------------------------------------------
    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        """Runs on the control thread: stop every owned sub-kernel on the main loop."""
        self._shutting_down = True
        try:
            await self.on_main_loop(self._stop_everything(), timeout=15)
        except Exception:
            log.exception("stopping sub-kernels at shutdown")
        self._kill_children_at_exit()
        return {"status": "ok", "restart": restart}

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        async def stop() -> None:
            self._shutting_down = True
            try:
                await asyncio.wait_for(self._stop_everything(), timeout=10)
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


async def _await_auto_restart(rec: KernelRecord) -> None:
    """Give jupyter_client's restarter the time to take a death it has not seen yet.

    Our watcher usually notices a death before the restarter (it polls every
    ``time_to_dead`` s); a kernel that is coming back must not end connect mode.
    """
    km = rec.sub.km if rec.sub is not None else None
    restarter = getattr(km, "_restarter", None)
    if km is None or not km.autorestart or getattr(restarter, "_pcallback", None) is None:
        return  # attached, remote, or the restarter gave up: it will not come back
    for _ in range(int((restarter.time_to_dead + 0.3) / 0.05)):
        if rec.status != "dead":
            return
        await asyncio.sleep(0.05)


def _is_escape(stripped: str) -> bool:
    return stripped in CONNECT_ESCAPES or stripped.startswith("/cmd ")


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _select_history(
    history: list[tuple[int, int, str]],
    access: str,
    start: int | None,
    stop: int | None,
    n: int | None,
    pattern: str | None,
    unique: bool,
) -> list[tuple[int, int, str]]:
    """IPython's history semantics on silik's own cells (one session, numbered by cell)."""
    import fnmatch

    items = list(history)
    if access == "range":
        first = start or 0
        return [h for h in items if h[1] >= first and (stop is None or h[1] < stop)]
    if access == "search":
        items = [h for h in items if fnmatch.fnmatchcase(h[2], pattern or "*")]
    if unique:
        latest = {h[2]: h for h in items}  # keeps the last occurrence of each source
        items = [h for h in items if latest[h[2]] is h]
    if access == "tail" or n:
        items = items[-(n or 10) :]
    return items


def _no_matches(cursor_pos: int) -> dict[str, Any]:
    return {
        "status": "ok",
        "matches": [],
        "cursor_start": cursor_pos,
        "cursor_end": cursor_pos,
        "metadata": {},
    }
