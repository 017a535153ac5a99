"""``python -m silik_kernel mcp --http``: the silik tools over streamable HTTP.

A tree of its own, like the stdio server, but for any number of clients at
once, at ``http://127.0.0.1:PORT/mcp`` behind a bearer token. It runs until
SIGTERM or SIGINT (Ctrl-C), then stops every kernel it started.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from silik_kernel.agent_policy import SilikSettings
from silik_kernel.commands.builtin.mcp import client_setup
from silik_kernel.commands.serving import TOKEN_ENV, take_token_from_env
from silik_kernel.mcp.http import HttpEndpoint, new_token
from silik_kernel.mcp.stdio import BadCommandLine, parse

PROG = "python -m silik_kernel mcp --http"
USAGE = f"""\
usage: {PROG} [--port N] [--stateless] [--config FILE] [--max-image-bytes N]

Serve the silik tools (start kernels, run code, read output, ...) over streamable
HTTP at http://127.0.0.1:PORT/mcp, on a tree of kernels of its own, to any number
of MCP clients at once. It listens on 127.0.0.1 only, and every request needs the
header Authorization: Bearer TOKEN: TOKEN is ${TOKEN_ENV} when set, else a new
one printed on stderr. SIGTERM or Ctrl-C stops it and every kernel it started.

  --port N             the port (default 0: any free one; the URL is printed)
  --stateless          no session ids: for clients that do not send Mcp-Session-Id back
  --config FILE        the policy, as for `python -m silik_kernel mcp` (see its --help)
  --max-image-bytes N  images larger than N bytes come as a link to a resource instead
"""


def parse_http(args: list[str]) -> tuple[int, bool, list[str]]:
    """``--port`` and ``--stateless`` taken out of ``args`` (after ``--http``); the rest."""
    port, stateless, rest = 0, False, []
    words = [a for a in args if a != "--http"]
    while words:
        word = words.pop(0)
        name, _, value = word.partition("=")
        if name == "--stateless" and not value:
            stateless = True
        elif name == "--port":
            if not value:
                if not words:
                    raise BadCommandLine(
                        "--port needs a value: a port number, or 0 for any free one"
                    )
                value = words.pop(0)
            if not value.isdigit() or int(value) > 65535:
                raise BadCommandLine(f"--port {value!r}: give a port from 1 to 65535, or 0")
            port = int(value)
        else:
            rest.append(word)
    return port, stateless, rest


def main(args: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in args):
        sys.stdout.write(USAGE)
        return 0
    try:
        port, stateless, rest = parse_http(args)
        policy, max_image = parse(rest)
    except BadCommandLine as exc:
        sys.stderr.write(f"{PROG}: {exc}\n\n{USAGE}")
        return 2
    return asyncio.run(serve(policy, max_image, port, stateless))


async def serve(policy: SilikSettings, max_image_bytes: int, port: int, stateless: bool) -> int:
    from silik_kernel.commands.builtin import BUILTIN_COMMANDS
    from silik_kernel.manager import SilikManager
    from silik_kernel.mcp.server import ServerOptions, build_server
    from silik_kernel.service import ManagerService

    given = take_token_from_env()  # before any kernel starts with this environment
    manager = SilikManager()
    server = build_server(
        ManagerService(manager, BUILTIN_COMMANDS), policy, ServerOptions(max_image_bytes)
    )
    endpoint = HttpEndpoint(server, given or new_token(), port=port, stateless=stateless)
    try:
        await endpoint.start()
    except OSError as exc:
        sys.stderr.write(
            f"{PROG}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}\n"
            "pick another port with --port N, or --port 0 for any free one\n"
        )
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    shown = f"${TOKEN_ENV}" if given else endpoint.token
    sys.stderr.write(
        f"silik MCP server at {endpoint.url} ({'stateless' if stateless else 'sessions'})\n"
        + (f"token: from {TOKEN_ENV}\n" if given else f"token: {endpoint.token}\n")
        + "  (a secret: whoever has it can start kernels and run code here as you)\n\n"
        + client_setup(endpoint.url, shown)
        + "\n\nCtrl-C stops it and every kernel it started.\n"
    )
    sys.stderr.flush()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await endpoint.stop()
        await server.silik_face.jobs.close()
        await manager.shutdown_all()
    return 0
