"""Helpers of the MCP tests: a silik MCP server started as a client starts it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

# Every MCP test module imports this first: without the mcp package (the
# silik[mcp] extra) the whole folder is skipped.
pytest.importorskip("mcp", reason="the MCP tests need the mcp package: pip install 'silik[mcp]'")

ROOT = Path(__file__).resolve().parents[2]
CALL_TIMEOUT = 60


def server_command(*args: str) -> tuple[str, list[str], dict[str, str]]:
    """The command, arguments and environment that start a silik MCP server."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return sys.executable, ["-m", "silik_kernel", "mcp", *args], env


def server_params(*args: str) -> Any:
    from mcp import StdioServerParameters

    command, argv, env = server_command(*args)
    return StdioServerParameters(command=command, args=argv, env=env)


def write_policy(path: Path, **silik: Any) -> Path:
    lines = ["[silik]"] + [f"{key} = {json.dumps(value)}" for key, value in silik.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def data_of(result: Any) -> Any:
    """The JSON of a result's first text content."""
    assert not result.is_error, text_of(result)
    return json.loads(result.content[0].text)


class ClientHolder:
    """An MCP client held open by a task of its own, so that tests of a module
    share one server (the client's context must end in the task it began in)."""

    def __init__(self, params: Any, **client_kw: Any) -> None:
        self.params = params
        self.client_kw = client_kw
        self.client: Any = None

    async def __aenter__(self) -> Any:
        import asyncio

        ready = asyncio.Event()
        self._stop = asyncio.Event()

        async def hold() -> None:
            from mcp import Client

            async with Client(self.params, **self.client_kw) as client:
                self.client = client
                ready.set()
                await self._stop.wait()

        self._task = asyncio.ensure_future(hold())
        waiting = asyncio.ensure_future(ready.wait())
        done, _ = await asyncio.wait(
            [self._task, waiting], timeout=60, return_when=asyncio.FIRST_COMPLETED
        )
        waiting.cancel()
        if self._task in done:
            self._task.result()  # the server failed to start: raise why
        assert self.client is not None, "the MCP server did not answer within 60 s"
        return self.client

    async def __aexit__(self, *exc: Any) -> None:
        import asyncio

        self._stop.set()
        await asyncio.wait_for(self._task, 30)
