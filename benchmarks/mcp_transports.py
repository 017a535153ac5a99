"""run_code through MCP (stdio and streamable HTTP) against the in-process tool.

    python benchmarks/mcp_transports.py              # 200 rounds
    python benchmarks/mcp_transports.py --rounds 50

Each side runs `1+1` in a python3 kernel of its own: "in-process" calls the
shared tool definition (SilikTools) on a LocalBackend in this process, as an
agent kernel without a parent silik does; "stdio" is the official MCP client on
`python -m silik_kernel mcp`; "HTTP" the same client on `python -m silik_kernel
mcp --http` (one session; and --stateless). The rounds alternate between the
sides, so a drifting machine biases none. run.py adds the same rows to its table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "benchmark-token-not-secret"
STARTUP = 60.0

Timed = Callable[[], Awaitable[float]]


def server_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SILIK_MCP_TOKEN": TOKEN}


async def http_server(stack: AsyncExitStack, *flags: str) -> str:
    """A `mcp --http` process for the benchmark's life; its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "silik_kernel", "mcp", "--http", *flags,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=server_env(),
    )  # fmt: skip

    async def stop() -> None:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)

    stack.push_async_callback(stop)
    assert proc.stderr is not None
    async with asyncio.timeout(STARTUP):
        while line := (await proc.stderr.readline()).decode():
            found = re.search(r"silik MCP server at (\S+)", line)
            if found:
                asyncio.ensure_future(_drain(proc.stderr))
                return found.group(1)
    raise RuntimeError("the MCP HTTP server did not start")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def mcp_side(stack: AsyncExitStack, server: Any, label: str) -> Timed:
    """A started client's run_code on a kernel of its own, as a timed call."""
    from mcp import Client

    client = await stack.enter_async_context(Client(server))
    started = await client.call_tool("start_kernel", {"kernelspec": "python3", "label": label})
    path = started.content[0].text.strip().strip('"')
    args = {"path": path, "code": "1+1"}

    async def once() -> float:
        t = time.perf_counter()
        result = await client.call_tool("run_code", args)
        took = (time.perf_counter() - t) * 1000
        if result.is_error or "2" not in result.content[0].text:
            raise RuntimeError(f"{label}: {result.content}")
        return took

    return once


async def in_process_side(stack: AsyncExitStack) -> Timed:
    from silik_kernel.tools.backend import LocalBackend
    from silik_kernel.tools.definitions import SilikTools

    backend = LocalBackend(caller="bench")
    stack.push_async_callback(backend.close)
    tools = SilikTools(backend)
    path = await tools.start_kernel("python3", "inproc")

    async def once() -> float:
        t = time.perf_counter()
        await tools.run_code(path, "1+1")
        return (time.perf_counter() - t) * 1000

    return once


async def measure(rounds: int) -> dict[str, float]:
    """Median ms of each side's run_code round trip."""
    from mcp import StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    def over_http(url: str) -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))

    async with AsyncExitStack() as stack:
        stdio = StdioServerParameters(
            command=sys.executable, args=["-m", "silik_kernel", "mcp"], env=server_env()
        )
        sides: dict[str, Timed] = {
            "in-process": await in_process_side(stack),
            "stdio": await mcp_side(stack, stdio, "stdio"),
            "HTTP": await mcp_side(stack, over_http(await http_server(stack)), "http"),
            "HTTP stateless": await mcp_side(
                stack, over_http(await http_server(stack, "--stateless")), "stateless"
            ),
        }
        for once in sides.values():  # warm up
            for _ in range(5):
                await once()
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(rounds):
            for name, once in sides.items():
                times[name].append(await once())
        return {name: statistics.median(t) for name, t in times.items()}


#: (side, row label, target in ms over the in-process tool)
ROWS = (
    ("stdio", "MCP run_code over stdio vs the in-process tool, median", 5.0),
    ("HTTP", "MCP run_code over HTTP vs the in-process tool, median", 10.0),
    ("HTTP stateless", "MCP run_code over HTTP, stateless, vs the in-process tool", 10.0),
)


def bench(b: Any, quick: bool) -> None:
    """Add the MCP rows to run.py's Bench ``b`` (ms over the in-process tool)."""
    got = asyncio.run(measure(10 if quick else 100))
    for side, label, target in ROWS:
        b.row(label, got["in-process"], got[side], "ms+", f"<= +{target:g} ms")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per side")
    args = parser.parse_args()
    got = asyncio.run(measure(args.rounds))
    base = got["in-process"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"run_code `1+1` in python3, median of {args.rounds} rounds (load average {load}):")
    print(f"  in-process tool        {base:7.2f} ms")
    for side, _, target in ROWS:
        diff = got[side] - base
        verdict = "ok" if diff <= target else "OVER"
        print(
            f"  {side:<22} {got[side]:7.2f} ms  {got[side] / base:5.2f}x  "
            f"{diff:+6.2f} ms (target <= +{target:g} ms: {verdict})"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main())
