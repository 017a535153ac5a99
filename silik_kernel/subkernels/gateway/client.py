"""REST and websocket access to a Jupyter Kernel Gateway or Enterprise Gateway.

A gateway serves kernels over HTTP: REST for kernelspecs and the kernel
lifecycle (start, interrupt, restart, delete) and one websocket per kernel for
its five channels (Jupyter Server's kernel websocket protocol). The request
settings (auth header and scheme, extra headers, TLS certificates, cookies,
token renewal) come from jupyter_server's ``GatewayClient``, one instance per
gateway, so every ``JUPYTER_GATEWAY_*`` setting that Jupyter Server honours
applies here too. jupyter_server's kernel manager and websocket client for
gateways are bound to the process-wide ``GatewayClient`` singleton (one gateway
per process) and its client reads the websocket from a thread; silik talks to
several gateways at once on its event loop, so it drives the same REST
endpoints and websocket itself, with tornado, as jupyter_server's gateway
websocket proxy does.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session

from silik_kernel.errors import SilikError
from silik_kernel.subkernels.execution import Message
from silik_kernel.subkernels.gateway.config import GatewayConfig, load_gateway_config
from silik_kernel.subkernels.gateway.settings import ENV_TOKEN, ENV_URL, config_path

if TYPE_CHECKING:
    from tornado.httpclient import HTTPResponse
    from tornado.websocket import WebSocketClientConnection

# tornado's HTTP and websocket clients (and jupyter_server) are imported on first
# use: a session without a gateway does not pay for them.


class GatewayError(SilikError):
    """A failed call to a gateway; ``detail`` is the short cause ("Connection refused")."""

    def __init__(self, message: str, hint: str | None = None, detail: str = "") -> None:
        super().__init__(message, hint)
        self.detail = detail or message


class GatewayNotFound(GatewayError):
    """The gateway answered 404: no such kernel or kernelspec."""


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    display_name: str
    language: str


def _load_gateway_client_class() -> type:
    # Importing jupyter_server's gateway client is slow (it brings jupyter_events):
    # only sessions that use a gateway pay it, on a worker thread.
    try:
        from jupyter_server.gateway.gateway_client import GatewayClient
    except ImportError:
        raise SilikError(
            "remote kernels need jupyter_server, which is not installed",
            hint="pip install 'silik[gateway]'",
        ) from None
    return GatewayClient


def _message_of(response: HTTPResponse | None) -> str:
    if response is None or not response.body:
        return ""
    try:
        body = json.loads(response.body)
    except ValueError:
        return response.body.decode("utf-8", "replace")[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or "")
    return ""


class Gateway:
    """One gateway: its ``GatewayClient`` settings plus the calls silik makes."""

    def __init__(self, config: GatewayConfig, client: Any) -> None:
        self.config = config
        self.client = client  # jupyter_server.gateway.gateway_client.GatewayClient

    @classmethod
    async def connect(cls, config: GatewayConfig) -> Gateway:
        client_class = await asyncio.to_thread(_load_gateway_client_class)
        kw: dict[str, Any] = {
            "url": config.url,
            "ws_url": config.websocket_base,
            "auth_scheme": config.auth_scheme,
            "headers": json.dumps(config.headers),
            "connect_timeout": config.connect_timeout,
            "request_timeout": config.request_timeout,
            "validate_cert": config.validate_cert,
        }
        if config.token is not None:
            kw["auth_token"] = config.token
        return cls(config, client_class(**kw))

    @property
    def host(self) -> str:
        return self.config.host

    def _connection_args(self, timeout: float) -> dict[str, Any]:
        """The request arguments GatewayClient builds (auth, headers, certs, cookies)."""
        client_class = type(self.client)
        saved_env = os.environ.get("KERNEL_LAUNCH_TIMEOUT")
        saved_launch = client_class.KERNEL_LAUNCH_TIMEOUT
        try:
            kw = self.client.load_connection_args()
        finally:
            # Its first call syncs a class attribute and our environment to its
            # own request timeout; silik passes timeouts per request instead.
            client_class.KERNEL_LAUNCH_TIMEOUT = saved_launch
            if saved_env is None:
                os.environ.pop("KERNEL_LAUNCH_TIMEOUT", None)
            else:
                os.environ["KERNEL_LAUNCH_TIMEOUT"] = saved_env
        headers = dict(kw.get("headers") or {})
        key = self.client.auth_header_key
        if self.config.token is None and not self.client.auth_token:
            headers.pop(key, None)  # no token: send none, not "token " ...
            for name, value in self.config.headers.items():
                headers[name] = value  # ... and keep an Authorization the user gave
        kw["headers"] = headers
        kw["request_timeout"] = timeout
        kw["connect_timeout"] = min(self.config.connect_timeout, timeout)
        return kw

    def _error(self, exc: BaseException, what: str, timeout: float) -> GatewayError:
        from tornado.httpclient import HTTPClientError

        where = f"the gateway at {self.config.url}"
        if isinstance(exc, HTTPClientError):
            code = exc.code
            detail = f"{code} {_message_of(exc.response) or exc.message}"
            if code in (401, 403):
                return GatewayError(
                    f"{where} refused the credentials ({code} {exc.message}) while {what}",
                    hint=f'set {ENV_TOKEN} (or "token" in {config_path()}) to the gateway\'s auth token',
                    detail="the gateway refused the credentials",
                )
            if code == 404:
                return GatewayNotFound(f"{where} has no such resource while {what}", None, detail)
            if code == 599:
                return GatewayError(
                    f"{where} did not answer within {timeout:g} s while {what} ({exc.message})",
                    hint="is it up and reachable from here? Timeouts are set in the gateway config",
                    detail=f"no answer within {timeout:g} s",
                )
            return GatewayError(f"{where} failed while {what}: {detail}", None, detail)
        if isinstance(exc, TimeoutError):
            detail = f"no answer within {timeout:g} s"
            return GatewayError(
                f"{where} did not answer within {timeout:g} s while {what}", None, detail
            )
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc) or type(exc).__name__
            return GatewayError(
                f"cannot reach {where} while {what}: {reason}",
                hint=f"is the gateway running? check --gateway or {ENV_URL}",
                detail=reason,
            )
        return GatewayError(f"{where} failed while {what}: {exc}", None, str(exc))

    async def _fetch(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        from jupyter_server.gateway.gateway_client import RetryableHTTPClient

        timeout = timeout or self.config.request_timeout
        kw = self._connection_args(timeout)
        if body is not None:
            kw["body"] = json.dumps(body)
            kw["headers"]["Content-Type"] = "application/json"
        try:
            # Retries GET/DELETE on 502/503/504/599 and connection errors, with backoff.
            response = await RetryableHTTPClient().fetch(
                self.config.url + path, method=method, **kw
            )
        except Exception as exc:
            raise self._error(exc, what, timeout) from None
        self.client.update_cookies(response.headers)
        return json.loads(response.body) if response.body else None

    def _kernels_path(self, *parts: str) -> str:
        path = self.client.kernels_endpoint.rstrip("/")
        return "/".join([path, *(quote(p, safe="") for p in parts)])

    async def kernelspecs(self) -> list[RemoteSpec]:
        data = await self._fetch("GET", self.client.kernelspecs_endpoint, "listing kernelspecs")
        specs = (data or {}).get("kernelspecs") or {}
        out = []
        for name, info in sorted(specs.items()):
            spec = (info or {}).get("spec") or {}
            out.append(RemoteSpec(name, spec.get("display_name", name), spec.get("language", "")))
        return out

    async def spec(self, name: str) -> RemoteSpec:
        specs = await self.kernelspecs()
        for spec in specs:
            if spec.name == name:
                return spec
        names = [s.name for s in specs]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"it has: {', '.join(names) or 'none'}"
        raise SilikError(
            f"unknown kernelspec {name!r} on the gateway at {self.host}",
            hint=hint + f" (`kernels --gateway {self.config.url}` lists them)",
        )

    def kernel_env(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """What a start request carries: KERNEL_* variables and the allowed ones."""
        allowed = {n.strip() for n in (self.client.allowed_envs or "").split(",") if n.strip()}
        merged = {**os.environ, **(env or {})}
        out = {k: v for k, v in merged.items() if k.startswith("KERNEL_") or k in allowed}
        # Enterprise Gateway bounds its own launch by this.
        out.setdefault("KERNEL_LAUNCH_TIMEOUT", str(int(self.config.launch_timeout)))
        return out

    async def start_kernel(
        self, name: str, env: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        model = await self._fetch(
            "POST",
            self._kernels_path(),
            f"starting a {name} kernel",
            body={"name": name, "env": self.kernel_env(env)},
            timeout=timeout or self.config.launch_timeout,
        )
        if not isinstance(model, dict) or "id" not in model:
            raise SilikError(f"the gateway at {self.host} sent no kernel id", hint=None)
        return model

    async def kernel_model(self, kernel_id: str, timeout: float | None = None) -> dict | None:
        try:
            return await self._fetch(
                "GET", self._kernels_path(kernel_id), "checking a kernel", timeout=timeout
            )
        except GatewayNotFound:
            return None

    async def interrupt_kernel(self, kernel_id: str) -> None:
        await self._fetch(
            "POST", self._kernels_path(kernel_id, "interrupt"), "interrupting a kernel", body={}
        )

    async def restart_kernel(self, kernel_id: str, timeout: float | None = None) -> None:
        await self._fetch(
            "POST",
            self._kernels_path(kernel_id, "restart"),
            "restarting a kernel",
            body={},
            timeout=timeout or self.config.launch_timeout,
        )

    async def delete_kernel(self, kernel_id: str, timeout: float | None = None) -> None:
        try:
            await self._fetch(
                "DELETE", self._kernels_path(kernel_id), "stopping a kernel", timeout=timeout
            )
        except GatewayNotFound:
            pass  # already gone

    async def open_channels(
        self, kernel_id: str, session_id: str, timeout: float
    ) -> WebSocketClientConnection:
        """The kernel's websocket. Reusing ``session_id`` after a drop replays what was missed."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = (
            self.config.websocket_base
            + self._kernels_path(kernel_id, "channels")
            + f"?session_id={quote(session_id)}"
        )
        kw = self._connection_args(timeout)
        try:
            return await asyncio.wait_for(
                websocket_connect(
                    HTTPRequest(url, **kw),
                    # A silent network partition closes the socket within ~10 s.
                    ping_interval=5,
                    ping_timeout=5,
                    max_message_size=1 << 30,
                ),
                timeout + 1,
            )
        except Exception as exc:
            raise self._error(exc, "opening the kernel's websocket", timeout) from None


class GatewayRegistry:
    """The gateways of one silik session, by the URL or name they were asked for."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self._gateways: dict[str, Gateway] = {}

    async def get(self, target: str | None = None) -> Gateway:
        config = load_gateway_config(target, self._env)
        key = json.dumps(config.model_dump(), sort_keys=True)
        gateway = self._gateways.get(key)
        if gateway is None:
            gateway = self._gateways[key] = await Gateway.connect(config)
        return gateway


# -- a kernel's websocket ------------------------------------------------------
def encode_message(
    channel: str, msg: Message, buffers: list[bytes] | None
) -> tuple[str | bytes, bool]:
    """Jupyter Server's kernel websocket format: JSON text, or binary when there are buffers."""
    msg["channel"] = channel
    if buffers:
        from jupyter_server.services.kernels.connection.base import serialize_binary_message

        msg["buffers"] = [bytes(b) for b in buffers]
        return serialize_binary_message(msg), True
    return json.dumps(msg, default=json_default), False


def decode_message(raw: str | bytes) -> tuple[str, Message]:
    if isinstance(raw, bytes):
        from jupyter_server.services.kernels.connection.base import deserialize_binary_message

        msg = deserialize_binary_message(raw)
        msg["buffers"] = [bytes(b) for b in msg.get("buffers") or []]
    else:
        msg = json.loads(raw)
        msg["buffers"] = []
    channel = msg.pop("channel", None) or "iopub"
    msg.setdefault("parent_header", {})
    msg.setdefault("metadata", {})
    return channel, msg


def no_quick_ack() -> None:
    pass


def quick_ack(ws: WebSocketClientConnection) -> Callable[[], None]:
    """Acknowledge each message at once instead of after the 40 ms delayed ACK.

    Gateways write a request's replies as several small frames without
    TCP_NODELAY, so Nagle holds each frame until the previous one is
    acknowledged: every delayed ACK would add its 40 ms to a round trip.
    Linux clears TCP_QUICKACK after use, hence one call per message.
    """
    stream = getattr(getattr(ws, "protocol", None), "stream", None)
    sock = getattr(stream, "socket", None)
    option = getattr(socket, "TCP_QUICKACK", None)
    if sock is None or option is None:
        return no_quick_ack
    try:
        stream.set_nodelay(True)
    except Exception:
        pass

    def ack() -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)
        except OSError:
            pass

    return ack


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()  # a write to a closing socket; the reader reports the drop


class GatewayChannels:
    """The transport of a kernel on a gateway: its five channels over one websocket.

    ``ws`` is None while the websocket is down (the kernel's reader reconnects).
    """

    def __init__(self, host: str) -> None:
        self.host = host
        # Own session: own msg_id space (the gateway signs for the kernel).
        self.session = Session(
            session=uuid.uuid4().hex, username="silik", key=uuid.uuid4().hex.encode()
        )
        self.ws: WebSocketClientConnection | None = None

    def transmit(self, channel: str, msg: Message, buffers: list[bytes] | None) -> None:
        ws = self.ws
        if ws is None:
            raise self.dropped()
        data, binary = encode_message(channel, msg, buffers)
        try:
            ws.write_message(data, binary=binary).add_done_callback(_consume)
        except Exception:  # WebSocketClosedError: the reader is about to see the drop
            raise self.dropped() from None

    def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            ws.close()

    def dropped(self) -> SilikError:
        return SilikError(
            f"the connection to the gateway at {self.host} dropped; silik is reconnecting",
            hint="try again in a few seconds",
        )
