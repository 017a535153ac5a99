"""`python -m silik_kernel mcp --http` as a subprocess, driven by the official client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import psutil
import pytest

pytest.importorskip("mcp")

import httpx  # noqa: E402
from mcp_http_procs import INIT, ROOT, ServerProcess, http_client, result_data  # noqa: E402


@pytest.fixture(scope="module")
def server():
    """One server for the module (started before the per-test leak check);
    each test stops the kernels it starts."""
    proc = ServerProcess()
    try:
        yield proc
    finally:
        proc.stop()


async def start_run_stop(url: str, token: str, label: str, code: str = "6*7") -> dict:
    async with http_client(url, token) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"start_kernel", "run_code", "get_output", "stop_kernel"} <= names
        path = result_data(
            await client.call_tool("start_kernel", {"kernelspec": "python3", "label": label})
        )
        try:
            return result_data(await client.call_tool("run_code", {"path": path, "code": code}))
        finally:
            result_data(await client.call_tool("stop_kernel", {"path": path}))


async def test_the_official_client_starts_a_kernel_runs_code_and_stops_it(server):
    assert server.token_line and server.token_line != "from SILIK_MCP_TOKEN"
    result = await start_run_stop(server.url, server.token_line, "calc")
    assert "42" in str(result["results"])


def post(url: str, **headers: str) -> httpx.Response:
    accept = {"Accept": "application/json, text/event-stream"}
    return httpx.post(url, json=INIT, headers={**accept, **headers}, timeout=10)


def test_a_missing_or_wrong_token_gets_401(server):
    assert post(server.url).status_code == 401
    assert post(server.url, Authorization="Bearer wrong").status_code == 401
    assert post(server.url, Authorization=f"Bearer {server.token_line}").status_code == 200


def test_a_foreign_origin_or_host_is_refused(server):
    auth = f"Bearer {server.token_line}"
    assert post(server.url, Authorization=auth, Origin="https://evil.example").status_code == 403
    host = f"attacker.example:{server.port}"
    assert post(server.url, Authorization=auth, Host=host).status_code == 403


def test_it_listens_on_127_0_0_1_only(server):
    listening = [
        c
        for c in psutil.Process(server.proc.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the server listens on no socket"
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    assert {c.laddr.port for c in listening} == {server.port}


async def test_stateless_mode_with_the_token_from_the_environment():
    proc = ServerProcess("--stateless", env={"SILIK_MCP_TOKEN": "from-the-env-1234"})
    try:
        assert proc.token_line == "from SILIK_MCP_TOKEN"
        assert "from-the-env-1234" not in "".join(proc.stderr)  # not echoed
        # nor handed down: code the clients run in kernels does not find it
        code = "import os; os.environ.get('SILIK_MCP_TOKEN', 'absent')"
        result = await start_run_stop(proc.url, "from-the-env-1234", "stateless", code)
        assert "absent" in str(result["results"])
    finally:
        assert proc.stop() == 0


async def test_sigterm_stops_the_server_and_its_kernels():
    proc = ServerProcess()
    async with http_client(proc.url, proc.token_line) as client:
        args = {"kernelspec": "python3", "label": "left"}
        result_data(await client.call_tool("start_kernel", args))
        kernels = psutil.Process(proc.proc.pid).children(recursive=True)
        assert kernels
        assert proc.stop(signal.SIGTERM) == 0
    gone, alive = psutil.wait_procs(kernels, timeout=10)
    assert not alive


def test_a_taken_port_or_a_bad_option_says_what_to_type_instead():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "silik_kernel", "mcp", "--http"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = subprocess.run(
            [*command, "--port", port], capture_output=True, text=True, env=env, timeout=60
        )
    assert busy.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "--port 0" in busy.stderr
    bad = subprocess.run(
        [*command, "--port", "http"], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2 and "give a port from 1 to 65535, or 0" in bad.stderr
