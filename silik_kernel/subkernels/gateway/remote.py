"""A kernel on a Jupyter Kernel Gateway or Jupyter Enterprise Gateway.

``RemoteSubKernel`` is a ``SubKernel`` whose transport is the kernel's websocket
on the gateway (:class:`GatewayChannels`): the routing by msg_id, ``execute``,
``request`` and ``wait_ready`` are the same code as for local kernels. What
differs is the lifecycle: REST calls instead of a process, and a websocket that
may drop and come back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from silik_kernel.cleanup import finish_cleanup
from silik_kernel.errors import STOPPED_REASON, KernelDiedError, SilikError
from silik_kernel.subkernels.execution import Message
from silik_kernel.subkernels.gateway.client import (
    Gateway,
    GatewayChannels,
    GatewayError,
    GatewayNotFound,
    decode_message,
    no_quick_ack,
    quick_ack,
)
from silik_kernel.subkernels.subkernel import SubKernel

if TYPE_CHECKING:
    from tornado.websocket import WebSocketClientConnection

log = logging.getLogger("silik.gateway")

WATCH_INTERVAL = 3.0  # seconds between REST checks that the gateway still has the kernel
RECONNECT_MAX_DELAY = 3.0


class RemoteSubKernel(SubKernel):
    """A kernel on a gateway; the websocket replaces the ZMQ sockets.

    Drops of the websocket are retried with the same session id, so the
    gateway replays the messages it buffered meanwhile. If the gateway stays
    away longer than ``reconnect_grace``, running requests fail with a clear
    error and silik keeps reconnecting in the background.
    """

    raw_frames = False  # JSON over a websocket: no signed frames to pass on

    def __init__(
        self,
        gateway: Gateway,
        remote_id: str,
        *,
        kernel_id: str,
        spec_name: str,
        language: str = "",
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(kernel_id, {}, spec_name=spec_name, language=language)
        self.owned = True  # silik started it on the gateway and stops it there
        self.gateway = gateway
        self.remote_id = remote_id
        self._env = dict(env or {})
        self.connection_info = self._describe()
        self.websocket = self.client.transport = GatewayChannels(gateway.host)
        self._wake = asyncio.Event()
        self._lost_at = 0.0
        self._gone = False  # the gateway no longer has the kernel
        self._user_restart = False

    def _describe(self) -> dict[str, Any]:
        return {
            "transport": "gateway",
            "gateway_url": self.gateway.config.url,
            "remote_kernel_id": self.remote_id,
        }

    @property
    def remote_host(self) -> str:
        return self.gateway.host

    @classmethod
    async def launch(
        cls,
        gateway: Gateway,
        spec_name: str,
        *,
        language: str = "",
        env: Mapping[str, str] | None = None,
        kernel_id: str | None = None,
        timeout: float | None = None,
    ) -> RemoteSubKernel:
        timeout = timeout or gateway.config.launch_timeout
        model = await gateway.start_kernel(spec_name, env, timeout)
        sk = cls(
            gateway,
            model["id"],
            kernel_id=kernel_id or uuid.uuid4().hex,
            spec_name=spec_name,
            language=language,
            env=env,
        )
        try:
            await sk._connect(timeout)
        except BaseException:
            await finish_cleanup(sk.shutdown(now=True))
            raise
        return sk

    # -- transport -----------------------------------------------------------
    async def _connect(self, timeout: float) -> None:
        self._closing = False
        self.websocket.ws = await self._open_websocket(timeout)
        self._tasks = [asyncio.ensure_future(self._pump()), asyncio.ensure_future(self._watch())]
        await self.wait_ready(timeout)
        if not self.language:
            self.language = self.kernel_info.get("language_info", {}).get("name", "")

    async def _open_websocket(self, timeout: float) -> WebSocketClientConnection:
        # The same session id after a drop: the gateway replays what was missed.
        return await self.gateway.open_channels(
            self.remote_id, self.websocket.session.session, timeout
        )

    async def _pump(self) -> None:
        """Read the websocket and route every message; reconnect when it drops."""
        ack: Callable[[], None] = no_quick_ack
        acked: WebSocketClientConnection | None = None
        channels = self.websocket
        while not self._closing:
            ws = channels.ws
            if ws is None:
                await self._reconnect()
                continue
            if ws is not acked:
                ack, acked = quick_ack(ws), ws
            try:
                raw = await ws.read_message()
            except Exception:
                raw = None
            ack()
            if raw is None:
                if channels.ws is ws and not self._closing:
                    log.info("websocket of %s on %s dropped", self.remote_id, self.remote_host)
                    channels.ws = None
                    self._lost_at = time.monotonic()
                continue
            try:
                channel, msg = decode_message(raw)
            except Exception:
                log.warning("dropping an invalid message from the gateway", exc_info=True)
                continue
            if channel == "iopub":
                self._notice_gateway_events(msg)
            self.router.route(channel, msg)

    async def _reconnect(self) -> None:
        config = self.gateway.config
        delay = 0.2
        while not self._closing and self.websocket.ws is None:
            if self._gone:
                await self._wake.wait()  # only a restart brings it back
                self._wake.clear()
                continue
            try:
                ws = await self._open_websocket(min(config.connect_timeout, 5.0))
            except GatewayNotFound:
                self._gone = True
                self._mark_dead(
                    f"the gateway at {self.remote_host} no longer has this kernel "
                    "(it was shut down or culled there, or the gateway restarted)"
                )
                continue
            except SilikError as exc:
                waited = time.monotonic() - self._lost_at
                if waited >= config.reconnect_grace and self.dead_reason is None:
                    detail = exc.detail if isinstance(exc, GatewayError) else exc.message
                    self._mark_dead(
                        f"lost the connection to the gateway at {self.remote_host} ({detail}); "
                        "silik keeps reconnecting"
                    )
                pause = delay
                if waited < config.reconnect_grace:
                    pause = min(delay, config.reconnect_grace - waited)
                try:
                    await asyncio.wait_for(self._wake.wait(), max(pause, 0.01))
                except TimeoutError:
                    pass
                self._wake.clear()
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
                continue
            if self._closing or self.websocket.ws is not None:
                ws.close()
                return
            self.websocket.ws = ws
            log.info("reconnected to %s on %s", self.remote_id, self.remote_host)
            if self.dead_reason is not None and not self.health.recovering:
                self._revive()
            return

    def _mark_dead(self, reason: str) -> None:
        self._cancel_revival()
        self.health.mark_dead(reason)

    def _revive(self) -> None:
        """Back after a drop or an automatic restart: dead until kernel_info answers.

        It is the kernel's comeback (:class:`KernelHealth`), so requests sent
        meanwhile wait for it (``wait_restarted``) as they do for a local
        kernel's automatic restart.
        """

        async def revive() -> None:
            try:
                await self.wait_ready(self.gateway.config.launch_timeout)
                self.health.mark_alive()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("kernel %s on %s did not come back", self.remote_id, self.remote_host)
                self.execution_state = "dead"

        if self.health.comeback is None:
            self.health.come_back(revive())

    def _cancel_revival(self) -> None:
        if self.health.drop_comeback() and not self._user_restart:
            self.health.recovering = False

    def _notice_gateway_events(self, msg: Message) -> None:
        """Restarts and deaths that the gateway (not one of our requests) reports."""
        if self._user_restart or self._closing:
            return
        msg_type = msg["header"]["msg_type"]
        if msg_type == "status" and not (msg.get("parent_header") or {}).get("msg_id"):
            state = msg["content"].get("execution_state")
            if state in ("restarting", "autorestarting"):
                self._lost_state("the kernel died on the gateway")
            elif state == "dead":
                self._mark_dead("the kernel died on the gateway and could not be restarted")
        elif msg_type == "shutdown_reply":
            parent = (msg.get("parent_header") or {}).get("msg_id")
            if self.router.waits_for(parent):
                return
            if msg["content"].get("restart"):
                self._lost_state("another client restarted the kernel on the gateway")
            else:
                self._gone = True
                self._mark_dead(
                    "the kernel was shut down on the gateway (by another client, or culled)"
                )

    def _lost_state(self, reason: str) -> None:
        self.restarted_unseen = True
        if self.dead_reason is None:
            self.dead_reason = reason
            self.router.fail_pending(reason)
        self._revive()

    async def _watch(self) -> None:
        """A kernel deleted on the gateway does not close its websocket: ask the REST API."""
        while not self._closing:
            await asyncio.sleep(WATCH_INTERVAL)
            if self._closing or self.health.recovering or self._gone or self.websocket.ws is None:
                continue
            try:
                model = await self.gateway.kernel_model(self.remote_id, timeout=5.0)
            except SilikError:
                continue  # unreachable: the websocket reports that
            if self._closing or self.health.recovering:
                continue
            if model is None:
                self._gone = True
                self._mark_dead(
                    f"the gateway at {self.remote_host} no longer has this kernel "
                    "(it was shut down or culled there)"
                )
            elif model.get("execution_state") == "dead" and self.dead_reason is None:
                self._mark_dead("the gateway reports the kernel dead")

    # -- lifecycle -------------------------------------------------------------
    async def is_alive(self) -> bool:
        try:
            return await self.gateway.kernel_model(self.remote_id, timeout=5.0) is not None
        except SilikError:
            return False

    async def interrupt(self) -> None:
        if self.dead_reason:
            raise KernelDiedError(self.dead_reason)
        try:
            await self.gateway.interrupt_kernel(self.remote_id)
        except GatewayNotFound:
            self._gone = True
            self._mark_dead(f"the gateway at {self.remote_host} no longer has this kernel")
            raise KernelDiedError(self.dead_reason or "") from None

    async def restart(self, timeout: float | None = None) -> None:
        """Restart on the gateway; if the gateway lost the kernel, start a new one there."""
        timeout = timeout or self.gateway.config.launch_timeout
        self._cancel_revival()
        self.health.recovering = self._user_restart = True
        try:
            self.router.fail_pending("the kernel was restarted")
            if not self._gone:
                try:
                    await self.gateway.restart_kernel(self.remote_id, timeout)
                except GatewayNotFound:
                    self._gone = True
            if self._gone:
                model = await self.gateway.start_kernel(self.spec_name, self._env, timeout)
                self.websocket.close()
                self.remote_id = model["id"]
                self.connection_info = self._describe()
                self._gone = False
            if self.websocket.ws is None:
                ws = await self._open_websocket(timeout)
                if self.websocket.ws is None:
                    self.websocket.ws = ws
                    self._wake.set()
                else:
                    ws.close()  # the reader reconnected meanwhile
            self.health.mark_alive("starting")
            await self.wait_ready(timeout)
        finally:
            self.health.recovering = self._user_restart = False
        self.restarted_unseen = False

    async def _close_client(self) -> None:
        self._closing = True
        self._wake.set()
        self._cancel_revival()
        await self._stop_tasks()
        self.websocket.close()

    async def shutdown(self, now: bool = False, grace: float | None = None) -> None:
        """Stop the kernel on the gateway; an unreachable gateway only costs a warning
        (``grace``: the seconds a silik shutting down waits for it)."""
        self.router.fail_pending(STOPPED_REASON)
        await self._close_client()
        if not self._gone:
            wait = min(self.gateway.config.request_timeout, 15.0 if grace is None else grace)
            try:
                await self.gateway.delete_kernel(self.remote_id, timeout=wait)
            except SilikError as exc:
                log.warning("could not stop kernel %s: %s", self.remote_id, exc.message)
        self.execution_state = "dead"
        self.dead_reason = STOPPED_REASON

    @property
    def pid(self) -> int | None:
        return None
