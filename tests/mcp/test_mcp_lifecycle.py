"""The stdio server's life: its kernels end with it (stdin closed, SIGTERM), its
stdout carries only the protocol, and approvals are asked through elicitation."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import psutil
import pytest
from mcp_helpers import (
    CALL_TIMEOUT,
    ClientHolder,
    server_command,
    server_params,
    text_of,
    write_policy,
)


def rpc(proc: subprocess.Popen, message: dict) -> None:
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def answer(proc: subprocess.Popen, request_id: int) -> dict:
    """The response to ``request_id``; every line on stdout must be JSON-RPC."""
    while True:
        line = proc.stdout.readline()
        assert line, "the server closed stdout"
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
        if message.get("id") == request_id:
            return message


@pytest.mark.parametrize("how", ["stdin closed", "SIGTERM"])
def test_the_kernels_stop_when_the_client_goes_away(how):
    command, args, env = server_command()
    proc = subprocess.Popen(
        [command, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}}
        hello["clientInfo"] = {"name": "raw", "version": "0"}
        rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})
        assert answer(proc, 1)["result"]["serverInfo"]["name"] == "silik"
        rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        start = {"name": "start_kernel", "arguments": {"kernelspec": "python3", "label": "k"}}
        rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": start})
        assert answer(proc, 2)["result"]["content"][0]["text"] == "~/k.py"
        kernels = psutil.Process(proc.pid).children(recursive=True)
        assert kernels
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == ""
        gone, alive = psutil.wait_procs(kernels, timeout=10)
        assert not alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_needing_approval_ask_through_elicitation(tmp_path, mode):
    answers = ["accept", "decline"]
    asked: list[str] = []

    import mcp_types

    async def on_elicit(context, params):
        asked.append(params.message)
        action = answers.pop(0)
        return mcp_types.ElicitResult(
            action=action, content={"approve": True} if action == "accept" else None
        )

    policy = write_policy(tmp_path / "mcp.toml", require_approval=["list_tree"])
    params = server_params("--config", str(policy))
    async with ClientHolder(params, elicitation_callback=on_elicit, mode=mode) as client:
        allowed = await asyncio.wait_for(client.call_tool("list_tree", {}), CALL_TIMEOUT)
        assert not allowed.is_error and json.loads(text_of(allowed))[0]["path"] == "~"
        refused = await asyncio.wait_for(client.call_tool("list_tree", {}), CALL_TIMEOUT)
        assert refused.is_error and "did not approve" in text_of(refused)
        free = await asyncio.wait_for(client.call_tool("list_kernelspecs", {}), CALL_TIMEOUT)
        assert not free.is_error
    assert len(asked) == 2 and "list_tree" in asked[0]
