"""Everything about talking to ONE Jupyter kernel.

A ``SubKernel`` owns (or attaches to) one kernel and keeps one persistent client
with its own ZMQ identity and its own msg_id space. It is made of parts:

- :class:`KernelProcess`: the process silik started (none for an attached kernel);
- :class:`ZmqChannels`: the client's sockets, read by event-loop callbacks;
- :class:`MessageRouter`: every message of every channel goes to whoever sent
  the request it answers: that is the only routing in silik;
- :class:`KernelClient`: requests (``send``, ``request``, ``execute``);
- :class:`KernelHealth` and :class:`LivenessWatcher`: deaths, restarts, comebacks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from silik_kernel.cleanup import finish_cleanup
from silik_kernel.errors import STOPPED_REASON, KernelDiedError, SilikError
from silik_kernel.protocol.wire import DELIM
from silik_kernel.subkernels.execution import RawSink, Sink
from silik_kernel.subkernels.health import KernelHealth
from silik_kernel.subkernels.kernel_client import KernelClient
from silik_kernel.subkernels.liveness import LivenessWatcher
from silik_kernel.subkernels.process import KernelProcess, read_connection_file
from silik_kernel.subkernels.routing import MessageRouter, quoted_id
from silik_kernel.subkernels.zmq_channels import ZmqChannels

log = logging.getLogger("silik.subkernel")

WATCH_INTERVAL = 0.3  # seconds between liveness checks: a dead kernel fails a cell within ~2 s
HEARTBEAT_INTERVAL = 0.5  # an attached kernel's: one lost heartbeat is not a death, two are


class SubKernel:
    """One kernel plus one persistent client.

    Build with :meth:`start` (silik owns the process) or :meth:`attach` (a kernel
    someone else started; silik never shuts it down). A kernel elsewhere (behind
    a gateway) sets its own ``client.transport`` and overrides the lifecycle:
    ``_connect``, ``_close_client``, ``is_alive``, ``interrupt``, ``restart``,
    ``shutdown``.
    """

    #: :meth:`forward_raw` works: the transport carries signed ZMQ frames.
    raw_frames = True

    def __init__(
        self,
        kernel_id: str,
        connection_info: dict[str, Any],
        *,
        process: KernelProcess | None = None,
        spec_name: str = "",
        language: str = "",
        connection_file: str = "",
    ) -> None:
        self.kernel_id = kernel_id
        self.process = process
        self.km = process.km if process is not None else None
        self.owned = process is not None
        self.spec_name = spec_name
        self.language = language
        self.connection_file = connection_file
        self.connection_info = connection_info
        self.kernel_info: dict[str, Any] = {}
        self.started_at = time.time()
        self.router = router = MessageRouter()
        self.health = KernelHealth(router)
        self.client = client = KernelClient(kernel_id, router, self.health)
        # The requests of this kernel are its client's, and the end of a request the
        # router's: bound methods, so that a relayed request costs no extra call.
        self.send = client.send
        self.request = client.request
        self.execute = client.execute
        self.begin_execute = client.begin_execute
        self.input_reply = client.input_reply
        self.forget = router.forget
        self.forget_raw = router.forget_raw
        self.channels: ZmqChannels | None = None  # a local kernel's transport, once connected
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    @property
    def execution_state(self) -> str:
        """What the kernel's statuses last said ("starting", "idle", "busy"), or what
        silik knows better ("restarting", "dead")."""
        return self.router.execution_state

    @execution_state.setter
    def execution_state(self, state: str) -> None:
        self.router.execution_state = state

    @property
    def dead_reason(self) -> str | None:
        """Why the kernel cannot take requests (None: it can)."""
        return self.health.dead_reason

    @dead_reason.setter
    def dead_reason(self, reason: str | None) -> None:
        self.health.dead_reason = reason

    @property
    def restarted_unseen(self) -> bool:
        """The kernel lost its state in an automatic restart, and the user was not told yet."""
        return self.health.restarted_unseen

    @restarted_unseen.setter
    def restarted_unseen(self, unseen: bool) -> None:
        self.health.restarted_unseen = unseen

    @property
    def restarting(self) -> bool:
        """Coming back from an automatic restart (requests wait: :meth:`wait_restarted`)."""
        return self.health.comeback is not None

    @property
    def comes_back(self) -> bool:
        """A death is being made good by an automatic restart, under way or about
        to start: the kernel comes back, without its state."""
        if self.restarting and self.restarted_unseen:
            return True
        return self.process is not None and self.process.restarts_after_death()

    async def wait_restarted(self, timeout: float = 30.0) -> None:
        """Let an automatic restart in progress finish before sending a request."""
        await self.health.wait_back(timeout)

    @property
    def on_unrouted(self) -> Sink | None:
        """Where iopub traffic that answers no request of ours goes (other clients', comms)."""
        return self.router.on_unrouted

    @on_unrouted.setter
    def on_unrouted(self, sink: Sink | None) -> None:
        self.router.on_unrouted = sink

    def report_replies_to(self, sink: Callable[[dict[str, Any]], None] | None) -> None:
        """Give ``sink`` the metadata of every execute_reply of this kernel, whoever
        asked (an agent kernel's replies carry its usage)."""
        self.router.on_reply_metadata = sink

    # -- construction ------------------------------------------------------
    @classmethod
    async def start(
        cls,
        spec_name: str,
        *,
        kernel_spec_manager: Any = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 60.0,
        kernel_id: str | None = None,
    ) -> SubKernel:
        kernel_id = kernel_id or uuid.uuid4().hex
        process = await KernelProcess.start(
            spec_name, kernel_id, kernel_spec_manager=kernel_spec_manager, env=env, cwd=cwd
        )
        sk = cls(
            kernel_id,
            process.connection_info(),
            process=process,
            spec_name=spec_name,
            language=process.language,
            connection_file=process.km.connection_file,
        )
        process.on_restart(sk._on_auto_restart, sk._on_restart_failed)
        try:
            await sk._connect(timeout)
        except BaseException as exc:
            tail = sk.log_tail()
            await finish_cleanup(sk.shutdown(now=True))
            if isinstance(exc, SilikError) and tail:
                raise SilikError(f"{exc.message}\nkernel output:\n{tail}", exc.hint) from exc
            raise
        return sk

    @classmethod
    async def attach(cls, connection_file: str, timeout: float = 10.0) -> SubKernel:
        info = read_connection_file(connection_file)
        sk = cls(uuid.uuid4().hex, info, connection_file=os.path.abspath(connection_file))
        try:
            await sk._connect(timeout)
        except BaseException:
            await finish_cleanup(sk.close())
            raise
        sk.language = sk.kernel_info.get("language_info", {}).get("name", "")
        return sk

    def log_tail(self, lines: int = 15) -> str:
        """The end of the kernel's own output, to explain a failure."""
        return self.process.log_tail(lines) if self.process is not None else ""

    async def _connect(self, timeout: float) -> None:
        self.channels = self.client.transport = ZmqChannels(self.connection_info, self.router)
        owned = self.km is not None
        watcher = LivenessWatcher(
            self.is_alive,
            self._died,
            interval=WATCH_INTERVAL if owned else HEARTBEAT_INTERVAL,
            misses=1 if owned else 2,
            paused=lambda: self._closing or self.health.recovering,
        )
        self._tasks = [asyncio.ensure_future(watcher.run())]
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float) -> None:
        """Wait until the kernel answers kernel_info and its iopub traffic arrives,
        and (over ZMQ) has seen our stdin socket."""
        self.kernel_info = await self.client.kernel_info(timeout)
        if isinstance(self.client.transport, ZmqChannels):
            await self.client.transport.stdin_connected()

    # -- requests ----------------------------------------------------------
    def forward_raw(self, channel: str, frames: list[bytes], msg_id: str, sink: RawSink) -> None:
        """Send a frontend's request as it came (``frames`` = header, parent, metadata,
        content, *buffers), signed with this kernel's key.

        The kernel's messages for it keep the frontend's request as their parent;
        each one reaches ``sink`` as its raw frames, ready to be re-signed and passed on.
        Undo with :meth:`forget_raw`.
        """
        self.health.check()
        channels = self.channels
        if channels is None:
            raise KernelDiedError("the kernel is not connected")
        self.router.raw[quoted_id(msg_id)] = sink
        channels.send(channel, [DELIM, channels.sign(frames[:4]), *frames])

    # -- liveness and restarts ---------------------------------------------
    async def is_alive(self) -> bool:
        if self.km is not None:
            return bool(await self.km.is_alive())
        assert self.channels is not None
        # Attached kernels: the heartbeat channel is the only signal we have.
        return await self.channels.heartbeat()

    async def _died(self) -> None:
        """The watcher found the kernel dead: fail the requests that wait on it."""
        if self.dead_reason is not None:
            return
        if self.process is None:
            self.health.mark_dead("the kernel stopped answering its heartbeat")
        else:
            self.health.mark_dead(await self.process.exit_reason())

    def _on_auto_restart(self) -> None:
        """jupyter_client is restarting the dead kernel: its state is gone."""
        if not self.kernel_info:
            # It died before it ever answered: fail the start (with its log), do not retry.
            self.dead_reason = "the kernel process exited"
            self.router.fail_pending(self.dead_reason)
            return
        self.restarted_unseen = True
        if self.dead_reason is None:
            self.dead_reason = "the kernel process exited"
        # Also when it died again while coming back: nothing sent meanwhile will be answered.
        self.router.fail_pending(self.dead_reason)
        self.execution_state = "restarting"
        # Until the new process answers on every channel, nothing may be sent to it:
        # output of a request sent before the iopub subscription is back would be lost.
        # (If it died again while coming back, this replaces the earlier attempt.)
        self.health.come_back(self._after_auto_restart())

    async def _after_auto_restart(self) -> None:
        """Reconnect (the restarter may pick new ports) and wait until the kernel answers."""
        process = self.process
        assert process is not None  # (only a process silik started is restarted)
        try:
            await process.wait_alive()
            info = process.connection_info()
            if info and info != self.connection_info:
                self.connection_info = info
                await self._reconnect()  # waits until ready
            else:
                await self.wait_ready(30)
            self.health.mark_alive()
        except Exception:
            log.exception("kernel %s did not come back after an automatic restart", self.kernel_id)
            self.execution_state = "dead"

    def _on_restart_failed(self) -> None:
        self.health.cancel_comeback()
        self.health.recovering = False
        # The watcher usually saw this death first and said why (its exit code).
        self.health.mark_dead(self.dead_reason or "the kernel process exited")

    async def _reconnect(self) -> None:
        # Requests sent to the old ports are never answered.
        self.router.fail_pending("the kernel was restarted")
        await self._close_client()
        self._closing = False
        await self._connect(30)

    # -- control -----------------------------------------------------------
    async def interrupt(self) -> None:
        if self.dead_reason:
            raise KernelDiedError(self.dead_reason)
        if self.km is not None:
            await self.km.interrupt_kernel()
            return
        # An attached kernel: we know no process to signal, so use the message mode.
        self.send("control", "interrupt_request", {})

    async def restart(self, timeout: float = 60.0) -> None:
        if self.process is None:
            raise SilikError(
                "silik attached to this kernel and does not manage its process: it cannot restart it",
                hint="restart it from where it was started",
            )
        self.health.recovering = True
        try:
            self.router.fail_pending("the kernel was restarted")
            await self.process.km.restart_kernel(now=False)
            info = self.process.connection_info()
            if info != self.connection_info:
                self.connection_info = info
                await self._reconnect()
            self.health.mark_alive("starting")
            await self.wait_ready(timeout)
        finally:
            self.health.recovering = False
        self.restarted_unseen = False

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:
                pass
        self._tasks = []

    async def _close_client(self) -> None:
        self._closing = True
        if self.channels is not None:
            self.channels.stop_reading()
        await self._stop_tasks()
        if self.channels is not None:
            self.channels.close()
            self.channels = self.client.transport = None

    async def close(self) -> None:
        """Forget the kernel without stopping it (attached kernels)."""
        self.router.fail_pending("silik closed its connection to the kernel")
        await self._close_client()

    async def shutdown(self, now: bool = False, grace: float | None = None) -> None:
        """Stop an owned kernel and remove its connection file; detach otherwise."""
        self.health.cancel_comeback()
        self.router.fail_pending(STOPPED_REASON)
        await self._close_client()
        if self.process is not None:
            await self.process.stop(now, grace)
        self.execution_state = "dead"
        self.dead_reason = STOPPED_REASON

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None
