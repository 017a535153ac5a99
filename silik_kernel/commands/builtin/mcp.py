"""The "MCP" command: serve this silik's live tree to MCP clients over loopback HTTP."""

from __future__ import annotations

import json
from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Arg, Opt
from silik_kernel.commands.frontend import Output
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.commands.serving import TOKEN_ENV, McpStatus
from silik_kernel.errors import SilikError

ACTIONS = ("start", "stop", "status")

commands = CommandRegistry("MCP")


def _actions(ctx: Any, typed: str) -> list[str]:
    return [a for a in ACTIONS if a.startswith(typed)]


@commands.command(
    "mcp",
    "Serve this silik's tree to MCP clients (Claude Code, Codex, Jupyter AI) on 127.0.0.1.",
    args=[Arg("action", "start, stop or status (default)", nargs="?", completer=_actions)],
    options=[
        Opt(("-p", "--port"), "port", "with start: the port (default: any free one)", "N", "int"),
        Opt(
            ("--stateless",),
            "stateless",
            "with start: no session ids, for clients that do not send Mcp-Session-Id back",
        ),
    ],
    details=(
        "An MCP client connected to it works on the kernels you see here: the kernels\n"
        "it starts show in `tree` as started by mcp:CLIENT, and `> path` steps into them.\n"
        "Every request needs the token `mcp status` shows; the server listens on\n"
        "127.0.0.1 only, and stops with `mcp stop` or when silik shuts down."
    ),
    examples=["mcp start", "mcp start --port 8765 --stateless", "mcp status", "mcp stop"],
)
async def _mcp(ctx: Context, values: dict[str, Any]) -> Output:
    action = values["action"] or "status"
    port = values["port"]
    if action not in ACTIONS:
        raise SilikError(
            f"mcp: unknown action {action!r}", hint="type `mcp start`, `mcp stop` or `mcp status`"
        )
    if action != "start" and (port is not None or values["stateless"]):
        flag = "--port" if port is not None else "--stateless"
        raise SilikError(f"mcp {action}: {flag} goes with `mcp start`", hint=f"mcp start {flag}")
    if port is not None and not 0 <= port <= 65535:
        hint = "a port from 1 to 65535, or leave it out for any free one"
        raise SilikError(f"mcp start: no port {port}", hint=hint)
    if ctx.mcp is None:
        raise SilikError(
            "mcp: only a silik kernel's own cells can serve its tree over MCP",
            hint="type it in a notebook or console cell of the silik",
        )
    if action == "start":
        status = await ctx.mcp.start(port or 0, values["stateless"])
        return Output(
            f"serving this silik's tree over MCP at {status.url} (127.0.0.1 only)\n"
            "`mcp status` shows the token and how to connect Claude Code, Codex or Jupyter AI"
        )
    if action == "stop":
        stopped = await ctx.mcp.stop()
        return Output("MCP server stopped; its port is closed" if stopped else "MCP: not running")
    return Output(describe(ctx.mcp.status()))


def describe(status: McpStatus) -> str:
    """What `mcp status` shows: where, the token, and each client's configuration."""
    if not status.running or status.url is None or status.token is None:
        return "MCP: not running; `mcp start` serves this silik's tree to MCP clients"
    lines = [
        f"MCP: serving this silik's tree at {status.url} (127.0.0.1 only)",
        f"token: {status.token}",
        "  The token is a secret: whoever has it can start kernels and run code here as",
        "  you" + (f", within the policy of {status.policy}." if status.policy else "."),
        "  Clear this output before you share the notebook.",
        "",
        client_setup(status.url, status.token),
    ]
    return "\n".join(lines)


def client_setup(url: str, token: str) -> str:
    """Ready-to-paste configuration of the MCP clients for ``url``.

    ``token`` may be ``$SILIK_MCP_TOKEN``: shells expand it; JSON files do not.
    """
    by_env = token == f"${TOKEN_ENV}"
    env = f"{TOKEN_ENV} set" if by_env else f"{TOKEN_ENV}={token}"
    claude_json = {
        "mcpServers": {
            "silik": {
                "type": "http",
                "url": url,
                "headers": {"Authorization": f"Bearer ${{{TOKEN_ENV}}}"},
            }
        }
    }
    jupyter_ai = {
        "mcp_servers": [
            {
                "name": "silik",
                "type": "http",
                "url": url,
                "headers": [{"name": "Authorization", "value": f"Bearer {token}"}],
            }
        ]
    }
    return "\n".join(
        [
            "Claude Code:",
            f'  claude mcp add --transport http silik {url} --header "Authorization: Bearer {token}"',
            f"  or in .mcp.json, with {env} in Claude Code's environment:",
            "  " + json.dumps(claude_json),
            "",
            f"Codex: in ~/.codex/config.toml, with {env} in Codex's environment:",
            "  [mcp_servers.silik]",
            f'  url = "{url}"',
            f'  bearer_token_env_var = "{TOKEN_ENV}"',
            "",
            "Jupyter AI (jupyter_mcp_manager): Settings > MCP Manager, or ~/.jupyter/mcp_servers.json"
            + (f" (write the token in place of ${TOKEN_ENV}):" if by_env else ":"),
            "  " + json.dumps(jupyter_ai),
        ]
    )
