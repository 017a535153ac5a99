"""`mcp start | stop | status`: this silik's live tree over loopback HTTP.

The server runs on silik's own event loop, beside its cells, on the same
SilikManager the person uses: what an MCP client starts shows in `tree`, and
the person can step into it. ``silik_kernel.mcp`` (and the ``mcp`` package) is
imported only when a server starts, so a silik that never serves pays nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from silik_kernel.commands.serving import McpStatus, take_token_from_env
from silik_kernel.errors import SilikError

if TYPE_CHECKING:
    from silik_kernel.commands.registry import CommandRegistry
    from silik_kernel.manager import SilikManager

log = logging.getLogger("silik.mcp")


class McpServing:
    """The `mcp` command's :class:`~silik_kernel.commands.serving.McpControl`."""

    def __init__(self, manager: SilikManager, commands: CommandRegistry) -> None:
        self.manager = manager
        self.commands = commands
        self.endpoint: Any = None  # the HttpEndpoint while serving
        self.server: Any = None  # its MCPServer
        # Kept for silik's life, so a client's setup stays valid; taken out of the
        # environment now, before silik starts a kernel with it.
        self.token: str | None = take_token_from_env()
        self.policy_source = ""

    async def start(self, port: int, stateless: bool = False) -> McpStatus:
        if self.endpoint is not None and self.endpoint.running:
            raise SilikError(
                f"mcp: already serving at {self.endpoint.url}",
                hint="`mcp status` shows how to connect; `mcp stop` first to change the port",
            )
        try:
            from silik_kernel.mcp.http import HttpEndpoint, new_token
            from silik_kernel.mcp.server import build_server
            from silik_kernel.mcp.stdio import default_config, load_policy
        except ImportError as exc:
            raise SilikError(
                f"mcp: the MCP server needs a package that is not installed ({exc.name})",
                hint="pip install 'silik[mcp]', then restart this kernel",
            ) from None
        from silik_kernel.service import ManagerService

        config = default_config()
        try:
            policy = load_policy(config, explicit=False)
        except Exception as exc:
            raise SilikError(f"mcp: {exc}", hint=f"fix or remove {config}") from None
        server = build_server(ManagerService(self.manager, self.commands), policy)
        token = self.token or new_token()
        endpoint = HttpEndpoint(server, token, port=port, stateless=stateless)
        try:
            await endpoint.start()
        except OSError as exc:
            raise SilikError(
                f"mcp: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                hint="another port with `mcp start --port N`, or `mcp start` for any free one",
            ) from None
        self.endpoint, self.server, self.token = endpoint, server, token
        self.policy_source = str(config) if config.exists() else ""
        return self.status()

    async def stop(self) -> bool:
        endpoint, server = self.endpoint, self.server
        self.endpoint = self.server = None
        if endpoint is None:
            return False
        was_running = endpoint.running
        await endpoint.stop()
        face = getattr(server, "silik_face", None)
        if face is not None:
            try:
                await face.jobs.close()  # runs the clients left unread end with the server
            except Exception:
                log.exception("closing the MCP server's jobs")
        return was_running

    def status(self) -> McpStatus:
        endpoint = self.endpoint
        if endpoint is None or not endpoint.running:
            return McpStatus(False)
        return McpStatus(True, endpoint.url, self.token, self.policy_source)
