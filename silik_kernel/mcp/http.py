"""An MCPServer over streamable HTTP: loopback only, behind a bearer token.

The server runs in the event loop it is started from (a silik kernel's, beside
its cells, or the one of ``python -m silik_kernel mcp --http``). Every request
must name this server as its Host (127.0.0.1:PORT or localhost:PORT), come from
no Origin or a loopback one (a web page elsewhere cannot reach it through DNS
rebinding), and carry ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

log = logging.getLogger("silik.mcp.http")

MCP_PATH = "/mcp"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: seconds open streams get to end when the server stops, before they are cancelled
STOP_GRACE = 0.5
#: seconds the server has to start listening or stop
START_STOP_TIMEOUT = 10.0


def new_token() -> str:
    return secrets.token_urlsafe(32)


def loopback_origin(origin: str) -> bool:
    """Whether a browser's Origin header names a page served from this machine."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host in LOOPBACK_NAMES


class RequestGuard:
    """ASGI middleware: Host, Origin and the bearer token, before the MCP app sees a request."""

    def __init__(self, app: Any, token: str, port: int) -> None:
        self.app = app
        self._token = token.encode()
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})

    def refusal(self, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        """Why a request with these headers is refused (status, text), or None."""
        host = headers.get(b"host", b"").decode("latin-1")
        if host not in self.hosts:
            want = " or ".join(sorted(self.hosts))
            return 403, f"Host {host!r} refused: this server answers only to {want}"
        origin = headers.get(b"origin")
        if origin is not None and not loopback_origin(origin.decode("latin-1")):
            return 403, "Origin refused: only pages served from 127.0.0.1 or localhost may call"
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self._token):
            return 401, "a bearer token is required: send the header Authorization: Bearer TOKEN"
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # the lifespan (uvicorn is told to refuse websockets)
            await self.app(scope, receive, send)
            return
        refused = self.refusal(dict(scope["headers"]))
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, text = refused
        extra = [(b"www-authenticate", b'Bearer realm="silik"')] if status == 401 else []
        body = (text + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def loopback_socket(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (``port`` 0: any free one).

    Made with ``IPPROTO_TCP`` named: asyncio sets TCP_NODELAY only on sockets that
    say so, and without it every response after the first on a connection waits
    ~40 ms for a delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class HttpEndpoint:
    """One MCPServer served at ``http://127.0.0.1:PORT/mcp`` from the running loop."""

    def __init__(
        self, server: MCPServer, token: str, *, port: int = 0, stateless: bool = False
    ) -> None:
        if not token:
            raise ValueError("an MCP HTTP endpoint needs a token")
        self.server = server
        self.token = token
        self.stateless = stateless
        self.requested_port = port
        self.port: int | None = None
        self._uvicorn: _ServerInLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{MCP_PATH}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Listen, and serve until :meth:`stop`; raises OSError when the port is taken."""
        sock = loopback_socket(self.requested_port)
        self.port = sock.getsockname()[1]
        hosts = [f"127.0.0.1:{self.port}", f"localhost:{self.port}"]
        app = self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=self.stateless,
            # the SDK's own check too; RequestGuard is the stricter one
            transport_security=TransportSecuritySettings(
                allowed_hosts=hosts,
                allowed_origins=[
                    f"{scheme}://{host}:*"
                    for scheme in ("http", "https")
                    for host in ("127.0.0.1", "localhost", "[::1]")
                ],
            ),
        )
        config = uvicorn.Config(
            RequestGuard(app, self.token, self.port),
            loop="none",
            lifespan="on",
            log_config=None,  # leave the process's logging (a kernel's) as it is
            access_log=False,
            ws="none",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=STOP_GRACE,
        )
        self._uvicorn = _ServerInLoop(config)
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        try:
            await self._until_started()
        except BaseException:
            sock.close()
            await self.stop()
            raise

    async def _until_started(self) -> None:
        async with asyncio.timeout(START_STOP_TIMEOUT):
            while not self._uvicorn.started:
                if self._task is not None and self._task.done():
                    try:
                        self._task.result()  # its exception, if it failed
                    except SystemExit:  # uvicorn's answer to a failed startup: not ours to exit
                        pass
                    raise RuntimeError("the MCP HTTP server ended before it listened")
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop listening and end every session; returns once the port is closed."""
        task, self._task = self._task, None
        if task is None:
            return
        self._uvicorn.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), START_STOP_TIMEOUT)
        except TimeoutError:
            self._uvicorn.force_exit = True
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except Exception:
            log.exception("the MCP HTTP server failed while stopping")


class _ServerInLoop(uvicorn.Server):
    """uvicorn's server without its signal handlers: the loop's owner keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
