"""``python -m silik_kernel mcp``: the silik tools for one MCP client over stdio.

A tree of its own: every kernel the client started is stopped when the client
goes away (stdin closed, SIGTERM or SIGINT). stdout carries the protocol only;
logs go to stderr.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tomllib
from pathlib import Path

from jupyter_core.paths import jupyter_config_dir
from pydantic import ValidationError

from silik_kernel.agent_policy import SilikSettings
from silik_kernel.mcp.content import DEFAULT_MAX_IMAGE_BYTES
from silik_kernel.process_exit import exit_without_teardown

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

USAGE = """\
usage: python -m silik_kernel mcp [--config FILE] [--max-image-bytes N]

Serve the silik tools (start kernels, run code, read output, ...) to one MCP
client over stdio, on a tree of kernels of its own; they stop when the client
goes away. Point an MCP client at this command (see the README, "The silik
tree over MCP").

  --config FILE        the policy: the [silik] section of FILE, same keys as an
                       agent kernel's; default JUPYTER_CONFIG_DIR/silik_agents/mcp.toml
                       (~/.jupyter/silik_agents/mcp.toml), the safe defaults without it
  --max-image-bytes N  images larger than N bytes come as a link to a resource of the
                       server instead of inline (default 1000000)
"""


class BadCommandLine(Exception):
    pass


def default_config() -> Path:
    config_dir = os.environ.get("JUPYTER_CONFIG_DIR") or jupyter_config_dir()
    return Path(config_dir).expanduser() / "silik_agents" / "mcp.toml"


def load_policy(path: Path, explicit: bool) -> SilikSettings:
    """The ``[silik]`` section of ``path``: a file named on the command line must
    exist and be valid; the default one may be missing."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if explicit:
            raise BadCommandLine(f"--config {path}: no such file") from None
        return SilikSettings()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadCommandLine(f"{path}: cannot read it as TOML: {exc}") from None
    try:
        return SilikSettings.model_validate(data.get("silik", {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'silik'}: {e['msg']}" for e in exc.errors()
        )
        raise BadCommandLine(f"{path}: its [silik] section is not valid: {problems}") from None


def parse(args: list[str]) -> tuple[SilikSettings, int]:
    config: Path | None = None
    max_image = DEFAULT_MAX_IMAGE_BYTES
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, _, value = arg.partition("=")
        if name not in ("--config", "--max-image-bytes"):
            raise BadCommandLine(f"unknown option {arg!r}")
        if not value:
            if not rest:
                raise BadCommandLine(f"{name} needs a value")
            value = rest.pop(0)
        if name == "--config":
            config = Path(value).expanduser()
        else:
            try:
                max_image = int(value)
            except ValueError:
                raise BadCommandLine(
                    f"--max-image-bytes {value!r}: give a number of bytes"
                ) from None
            if max_image < 0:
                raise BadCommandLine("--max-image-bytes: give a number of bytes, 0 or more")
    policy = load_policy(config or default_config(), explicit=config is not None)
    return policy, max_image


def main(args: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in args):
        sys.stdout.write(USAGE)
        return 0
    try:
        policy, max_image = parse(args)
    except BadCommandLine as exc:
        sys.stderr.write(f"python -m silik_kernel mcp: {exc}\n\n{USAGE}")
        return 2
    asyncio.run(serve(policy, max_image))
    exit_without_teardown()  # the kernels are stopped; never join the stdin thread
    return 0


async def serve(policy: SilikSettings, max_image_bytes: int) -> None:
    from silik_kernel.commands.builtin import BUILTIN_COMMANDS
    from silik_kernel.manager import SilikManager
    from silik_kernel.mcp.server import ServerOptions, build_server
    from silik_kernel.service import ManagerService

    manager = SilikManager()
    server = build_server(
        ManagerService(manager, BUILTIN_COMMANDS), policy, ServerOptions(max_image_bytes)
    )
    # The stdio transport reads stdin in a thread that a cancellation cannot
    # stop: on a signal, clean up without waiting for it, then exit at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.ensure_future(server.run_stdio_async())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        await server.silik_face.jobs.close()
        await manager.shutdown_all()
        stopping.cancel()
        serving.cancel()
