"""`mcp start` in a silik kernel: MCP clients and the person work on the same kernels."""

from __future__ import annotations

import asyncio
import os
import re
import time

import psutil
import pytest

pytest.importorskip("mcp")

import httpx  # noqa: E402
from jupyter_client.manager import _ShutdownStatus  # noqa: E402
from mcp_http_procs import http_client, result_data  # noqa: E402


def serving(driver, *flags: str) -> tuple[str, str]:
    """``mcp start`` in the silik, then the URL and token `mcp status` shows."""
    started = driver.ok(" ".join(["mcp start", *flags])).text
    url = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", started).group(1)
    status = driver.ok("mcp status").text
    assert url in status
    token = re.search(r"token: (\S+)", status).group(1)
    assert "secret" in status
    assert f'--header "Authorization: Bearer {token}"' in status  # Claude Code
    assert 'bearer_token_env_var = "SILIK_MCP_TOKEN"' in status  # Codex
    assert '"mcp_servers"' in status  # Jupyter AI
    return url, token


def closed(url: str) -> bool:
    try:
        httpx.post(url, json={}, timeout=5)
    except httpx.ConnectError:
        return True
    return False


async def start(client, label: str) -> str:
    args = {"kernelspec": "python3", "label": label}
    return result_data(await client.call_tool("start_kernel", args))


async def run(client, path: str, code: str) -> dict:
    return result_data(await client.call_tool("run_code", {"path": path, "code": code}))


async def test_mcp_clients_and_the_person_share_the_live_tree(shared_silik):
    assert "not running" in shared_silik.ok("mcp status").text
    url, token = serving(shared_silik)
    assert "already serving" in shared_silik.fails("mcp start").text
    async with (
        http_client(url, token, "claude-test") as a,
        http_client(url, token, "codex-test") as b,
    ):
        path_a, path_b = await asyncio.gather(start(a, "shared"), start(b, "other"))
        try:
            await run(a, path_a, "x = 41")
            tree = shared_silik.ok("tree").text
            assert "mcp:claude-test" in tree and "mcp:codex-test" in tree, tree
            # the person runs code in the client's kernel, in a cell and in connect mode
            shared_silik.ok(f'run "x += 1" {path_a}')
            shared_silik.ok(f"> {path_a}")
            assert "42" in shared_silik.ok("x").text
            shared_silik.ok("/cmd")
            # both clients at once, each on its kernel
            seen_a, seen_b = await asyncio.gather(run(a, path_a, "x"), run(b, path_b, "6*7"))
            assert "42" in str(seen_a["results"]) and "42" in str(seen_b["results"])
        finally:
            shared_silik.ok(f"stop {path_a} {path_b}")
    assert "MCP server stopped" in shared_silik.ok("mcp stop").text
    assert closed(url)
    assert "not running" in shared_silik.ok("mcp status").text
    assert "not running" in shared_silik.ok("mcp stop").text


def test_bad_input_says_what_to_type(shared_silik):
    assert "`mcp start`, `mcp stop` or `mcp status`" in shared_silik.fails("mcp begin").text
    assert "--port goes with `mcp start`" in shared_silik.fails("mcp stop --port 5").text
    assert "--stateless goes with `mcp start`" in shared_silik.fails("mcp status --stateless").text
    assert "no port 70000" in shared_silik.fails("mcp start --port 70000").text
    assert "not running" in shared_silik.ok("mcp status").text  # nothing started


def test_a_port_in_use_is_refused_with_a_hint(shared_silik):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = shared_silik.fails(f"mcp start --port {port}").text
    assert f"cannot listen on 127.0.0.1:{port}" in failed and "--port N" in failed
    assert "not running" in shared_silik.ok("mcp status").text


async def test_shutdown_stops_the_server_and_the_clients_kernels(shared_silik, tmp_path):
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "SILIK_MCP_TOKEN": "chosen-42"}
    driver = type(shared_silik)("silik", env=env)  # tests/conftest.py's KernelDriver
    try:
        url, token = serving(driver, "--stateless")
        assert token == "chosen-42"
        async with http_client(url, token, "left-open") as client:
            path = await start(client, "orphan")
            code = "import os; os.environ.get('SILIK_MCP_TOKEN', 'absent')"
            assert "absent" in str((await run(client, path, code))["results"])  # not handed down
            subs = psutil.Process(driver.pid()).children(recursive=True)
            assert subs
            driver.kc.stop_channels()
            began = time.monotonic()
            driver.km.shutdown_kernel(now=False)
            took = time.monotonic() - began
        assert driver.km._shutdown_status == _ShutdownStatus.ShutdownRequest, (
            f"silik did not exit within jupyter_client's wait ({took:.1f} s)"
        )
        _, alive = psutil.wait_procs(subs, timeout=5)
        assert not alive
        assert closed(url)
        assert not [f for _, _, files in os.walk(tmp_path) for f in files]  # no file left
    finally:
        if driver.km.has_kernel:
            driver.km.shutdown_kernel(now=True)
