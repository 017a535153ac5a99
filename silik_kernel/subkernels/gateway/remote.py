"""Remote kernels on a Jupyter Kernel Gateway or Jupyter Enterprise Gateway.

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

``RemoteSubKernel`` is a ``SubKernel`` whose transport is that websocket: the
routing by msg_id, ``execute``, ``request`` and ``wait_ready`` are the same
code as for local kernels.

Configuration (most specific wins):

1. defaults of :class:`GatewayConfig`;
2. the top level of ``silik_gateway.json`` in the Jupyter config dir (or the
   file named by ``SILIK_GATEWAY_CONFIG``), for its ``url`` (or every gateway
   when it names none);
3. ``SILIK_GATEWAY_TOKEN`` / ``SILIK_GATEWAY_HEADERS`` (JSON), for
   ``SILIK_GATEWAY_URL`` (or every gateway when that is unset);
4. the file's ``"gateways"`` entry for the URL (or name) given to ``--gateway``.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.subkernels.gateway.settings import (
    ENV_HEADERS,
    ENV_TOKEN,
    ENV_URL,
    config_path,
    read_config_file,
    session_gateway_url,
)
from silik_kernel.subkernels.subkernel import Message, Sink, SubKernel

if TYPE_CHECKING:
    from tornado.httpclient import HTTPResponse
    from tornado.websocket import WebSocketClientConnection

# tornado's HTTP and websocket clients (and jupyter_server) are imported on first
# use: a session without a gateway does not pay for them.

log = logging.getLogger("silik.gateway")

WATCH_INTERVAL = 3.0  # seconds between REST checks that the gateway still has the kernel
RECONNECT_MAX_DELAY = 3.0


# -- configuration --------------------------------------------------------------
class GatewayConfig(BaseModel):
    """How to reach one gateway."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) base URL of the gateway, e.g. https://eg.example.com")
    ws_url: str | None = Field(None, description="websocket base URL (default: url with ws/wss)")
    token: str | None = Field(None, repr=False, description="sent as `Authorization: token T`")
    auth_scheme: str = Field("token", description="the word before the token, e.g. Bearer")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")
    validate_cert: bool = True
    connect_timeout: float = Field(10.0, gt=0, description="TCP/TLS connection, seconds")
    request_timeout: float = Field(30.0, gt=0, description="REST calls other than a start")
    launch_timeout: float = Field(120.0, gt=0, description="starting or restarting a kernel")
    reconnect_grace: float = Field(
        3.0,
        ge=0,
        description="how long a dropped websocket may take to come back before the running cell fails",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if urlsplit(value).scheme not in ("ws", "wss"):
            raise ValueError(f"{value!r} is not a ws:// or wss:// URL")
        return value

    @property
    def host(self) -> str:
        """``host:port`` as shown in the tree."""
        return urlsplit(self.url).netloc

    @property
    def websocket_base(self) -> str:
        if self.ws_url:
            return self.ws_url
        scheme, rest = self.url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def load_gateway_config(
    target: str | None = None, env: Mapping[str, str] | None = None
) -> GatewayConfig:
    """The settings for ``target`` (a URL or a name from the config file; None: the session's)."""
    env = os.environ if env is None else env
    path = config_path(env)
    data = read_config_file(path)
    entries = data.get("gateways") or {}
    if not isinstance(entries, dict):
        raise SilikError(f'"gateways" in {path} must map URLs or names to settings', hint=None)
    top = {k: v for k, v in data.items() if k != "gateways"}
    target = target or session_gateway_url(env)
    if not target:
        raise SilikError(
            "no gateway is configured",
            hint=f'give --gateway URL, or set {ENV_URL} (or "url" in {path})',
        )
    entry = next((v for k, v in entries.items() if _same_url(k, target)), None)
    if entry is not None and not isinstance(entry, dict):
        raise SilikError(f"the entry for {target} in {path} must be a JSON object", hint=None)
    url = (entry or {}).get("url") or target
    if "://" not in url:
        raise SilikError(
            f"unknown gateway {target!r}",
            hint=f'give an http(s):// URL, or a name from "gateways" in {path}',
        )
    settings: dict[str, Any] = {}
    if not top.get("url") or _same_url(top["url"], url):
        settings.update(top)
    if not env.get(ENV_URL) or _same_url(env[ENV_URL], url):
        if env.get(ENV_TOKEN):
            settings["token"] = env[ENV_TOKEN]
        if env.get(ENV_HEADERS):
            try:
                headers = json.loads(env[ENV_HEADERS])
            except ValueError:
                headers = None
            if not isinstance(headers, dict):
                raise SilikError(
                    f"{ENV_HEADERS} must be a JSON object of header names to values",
                    hint=f"""e.g. {ENV_HEADERS}='{{"X-User": "me"}}'""",
                )
            settings["headers"] = {**settings.get("headers", {}), **headers}
    if entry:
        settings.update(entry)
    settings["url"] = url
    try:
        return GatewayConfig.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise SilikError(f"bad gateway settings for {target}: {problems}", hint=None) from None


# -- REST and websocket access to one gateway ------------------------------------
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
    # Importing jupyter_server's gateway client takes ~2 s (jupyter_events):
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


# -- a kernel on a gateway ------------------------------------------------------
def _encode(channel: str, msg: Message, buffers: list[bytes] | None) -> tuple[str | bytes, bool]:
    """Jupyter Server's kernel websocket format: JSON text, or binary when there are buffers."""
    msg["channel"] = channel
    if buffers:
        from jupyter_server.services.kernels.connection.base import serialize_binary_message

        msg["buffers"] = [bytes(b) for b in buffers]
        return serialize_binary_message(msg), True
    return json.dumps(msg, default=json_default), False


def _decode(raw: str | bytes) -> tuple[str, Message]:
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


def _no_quick_ack() -> None:
    pass


def _quick_ack(ws: WebSocketClientConnection) -> Callable[[], None]:
    """Acknowledge each message at once instead of after the 40 ms delayed ACK.

    Gateways write a request's replies as several small frames without
    TCP_NODELAY, so Nagle holds each frame until the previous one is
    acknowledged: without this a round trip costs ~50 ms instead of ~12 ms.
    Linux clears TCP_QUICKACK after use, hence one call per message.
    """
    stream = getattr(getattr(ws, "protocol", None), "stream", None)
    sock = getattr(stream, "socket", None)
    option = getattr(socket, "TCP_QUICKACK", None)
    if sock is None or option is None:
        return _no_quick_ack
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
        # Own session: own msg_id space (the gateway signs for the kernel).
        self._session = Session(
            session=uuid.uuid4().hex, username="silik", key=uuid.uuid4().hex.encode()
        )
        self._ws: WebSocketClientConnection | None = None
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
            await sk.shutdown(now=True)
            raise
        return sk

    # -- transport -----------------------------------------------------------
    async def _connect(self, timeout: float) -> None:
        self._closing = False
        self._ws = await self.gateway.open_channels(self.remote_id, self._session.session, timeout)
        self._tasks = [asyncio.ensure_future(self._pump()), asyncio.ensure_future(self._watch())]
        await self.wait_ready(timeout)
        if not self.language:
            self.language = self.kernel_info.get("language_info", {}).get("name", "")

    def _check_alive(self) -> None:
        if self.dead_reason and not self._restarting:
            raise KernelDiedError(self.dead_reason)
        if self._ws is None:
            raise SilikError(
                f"the connection to the gateway at {self.remote_host} dropped; silik is reconnecting",
                hint="try again in a few seconds",
            )

    def send(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        *,
        sink: Sink | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
    ) -> str:
        self._check_alive()
        ws = self._ws
        assert ws is not None
        msg = self._session.msg(msg_type, content, metadata=metadata)
        msg_id = msg["header"]["msg_id"]
        data, binary = _encode(channel, msg, buffers)
        try:
            ws.write_message(data, binary=binary).add_done_callback(_consume)
        except Exception:  # WebSocketClosedError: the reader is about to see the drop
            raise SilikError(
                f"the connection to the gateway at {self.remote_host} dropped; silik is reconnecting",
                hint="try again in a few seconds",
            ) from None
        if sink is not None:
            self._sinks[msg_id] = sink
        return msg_id

    async def _pump(self) -> None:
        """Read the websocket and route every message; reconnect when it drops."""
        ack: Callable[[], None] = _no_quick_ack
        acked: WebSocketClientConnection | None = None
        while not self._closing:
            ws = self._ws
            if ws is None:
                await self._reconnect()
                continue
            if ws is not acked:
                ack, acked = _quick_ack(ws), ws
            try:
                raw = await ws.read_message()
            except Exception:
                raw = None
            ack()
            if raw is None:
                if self._ws is ws and not self._closing:
                    log.info("websocket of %s on %s dropped", self.remote_id, self.remote_host)
                    self._ws = None
                    self._lost_at = time.monotonic()
                continue
            try:
                channel, msg = _decode(raw)
            except Exception:
                log.warning("dropping an invalid message from the gateway", exc_info=True)
                continue
            if channel == "iopub":
                self._notice_gateway_events(msg)
            self._route(channel, msg)

    async def _reconnect(self) -> None:
        config = self.gateway.config
        delay = 0.2
        while not self._closing and self._ws is None:
            if self._gone:
                await self._wake.wait()  # only a restart brings it back
                self._wake.clear()
                continue
            try:
                ws = await self.gateway.open_channels(
                    self.remote_id, self._session.session, min(config.connect_timeout, 5.0)
                )
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
            if self._closing or self._ws is not None:
                ws.close()
                return
            self._ws = ws
            log.info("reconnected to %s on %s", self.remote_id, self.remote_host)
            if self.dead_reason is not None and not self._restarting:
                self._revive()
            return

    def _mark_dead(self, reason: str) -> None:
        self._cancel_revival()
        self.dead_reason = reason
        self.execution_state = "dead"
        self._fail_pending(reason)

    def _revive(self) -> None:
        """Back after a drop or an automatic restart: dead until kernel_info answers.

        It is SubKernel's restart task, so requests sent meanwhile wait for it
        (``wait_restarted``) as they do for a local kernel's automatic restart.
        """

        async def revive() -> None:
            try:
                await self.wait_ready(self.gateway.config.launch_timeout)
                self.dead_reason = None
                self.execution_state = "idle"
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("kernel %s on %s did not come back", self.remote_id, self.remote_host)
                self.execution_state = "dead"
            finally:
                if self._restart_task is asyncio.current_task():
                    self._restarting = False
                    self._restart_task = None

        if self._restart_task is None:
            self._restarting = True  # lets wait_ready send while dead_reason is set
            self._restart_task = asyncio.ensure_future(revive())

    def _cancel_revival(self) -> None:
        task, self._restart_task = self._restart_task, None
        if task is not None:
            task.cancel()
            if not self._user_restart:
                self._restarting = False

    def _notice_gateway_events(self, msg: Message) -> None:
        """Restarts and deaths that the gateway (not one of our requests) reports."""
        if self._user_restart or self._closing:
            return
        msg_type = msg["header"]["msg_type"]
        if msg_type == "status" and not (msg.get("parent_header") or {}).get("msg_id"):
            state = msg["content"].get("execution_state")
            if state in ("restarting", "autorestarting"):
                self._lost_state(
                    "the kernel died and the gateway is restarting it (its state is lost)"
                )
            elif state == "dead":
                self._mark_dead("the kernel died on the gateway and could not be restarted")
        elif msg_type == "shutdown_reply":
            parent = (msg.get("parent_header") or {}).get("msg_id")
            if parent in self._sinks:
                return
            if msg["content"].get("restart"):
                self._lost_state(
                    "another client restarted the kernel on the gateway (its state is lost)"
                )
            else:
                self._gone = True
                self._mark_dead(
                    "the kernel was shut down on the gateway (by another client, or culled)"
                )

    def _lost_state(self, reason: str) -> None:
        self.restarted_unseen = True
        if self.dead_reason is None:
            self.dead_reason = reason
            self._fail_pending(reason)
        self._revive()

    async def _watch(self) -> None:
        """A kernel deleted on the gateway does not close its websocket: ask the REST API."""
        while not self._closing:
            await asyncio.sleep(WATCH_INTERVAL)
            if self._closing or self._restarting or self._gone or self._ws is None:
                continue
            try:
                model = await self.gateway.kernel_model(self.remote_id, timeout=5.0)
            except SilikError:
                continue  # unreachable: the websocket reports that
            if self._closing or self._restarting:
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
        self._restarting = self._user_restart = True
        try:
            self._fail_pending("the kernel was restarted")
            if not self._gone:
                try:
                    await self.gateway.restart_kernel(self.remote_id, timeout)
                except GatewayNotFound:
                    self._gone = True
            if self._gone:
                model = await self.gateway.start_kernel(self.spec_name, self._env, timeout)
                old, self._ws = self._ws, None
                if old is not None:
                    old.close()
                self.remote_id = model["id"]
                self.connection_info = self._describe()
                self._gone = False
            if self._ws is None:
                ws = await self.gateway.open_channels(
                    self.remote_id, self._session.session, timeout
                )
                if self._ws is None:
                    self._ws = ws
                    self._wake.set()
                else:
                    ws.close()  # the reader reconnected meanwhile
            self.dead_reason = None
            self.execution_state = "starting"
            await self.wait_ready(timeout)
        finally:
            self._restarting = self._user_restart = False
        self.restarted_unseen = False

    async def _close_client(self) -> None:
        self._closing = True
        self._wake.set()
        self._cancel_revival()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:
                pass
        self._tasks = []
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    async def shutdown(self, now: bool = False) -> None:
        """Stop the kernel on the gateway; an unreachable gateway only costs a warning."""
        self._fail_pending("the kernel was stopped")
        await self._close_client()
        if not self._gone:
            try:
                await self.gateway.delete_kernel(
                    self.remote_id, timeout=min(self.gateway.config.request_timeout, 15.0)
                )
            except SilikError as exc:
                log.warning("could not stop kernel %s: %s", self.remote_id, exc.message)
        self.execution_state = "dead"
        self.dead_reason = "the kernel was stopped"

    @property
    def pid(self) -> int | None:
        return None
