"""A notebook on silik serves its tree over MCP (`mcp start`); between its cells an
MCP client starts a kernel and runs code in it, and the notebook's saved outputs
show that kernel in `tree` and its variable in connect mode."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("mcp")

import json  # noqa: E402

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402
from mcp.types import Implementation  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbformat.v4 import new_code_cell, new_notebook  # noqa: E402


def http_client(url: str, token: str, name: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    transport = streamable_http_client(url, http_client=http)
    return Client(transport, client_info=Implementation(name=name, version="1"))


def result_data(result) -> object:
    assert not result.is_error, result.content
    text = result.content[0].text
    try:
        return json.loads(text)
    except ValueError:
        return text


def shown(cell) -> str:
    return "".join(
        o.get("text", "")
        if o["output_type"] == "stream"
        else o.get("data", {}).get("text/plain", "")
        for o in cell.outputs
    )


async def test_a_notebook_and_an_mcp_client_share_a_kernel():
    sources = ["mcp start", "mcp status", "tree", "> ~/calc.py", "print(x + 1)", "/cmd", "mcp stop"]
    nb = new_notebook(
        metadata={"kernelspec": {"name": "silik", "display_name": "Silik", "language": "silik"}}
    )
    nb.cells = [new_code_cell(s) for s in sources]
    client = NotebookClient(nb, kernel_name="silik", timeout=60)
    async with client.async_setup_kernel():
        await client.async_execute_cell(nb.cells[0], 0)
        await client.async_execute_cell(nb.cells[1], 1)
        status = shown(nb.cells[1])
        url = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", status).group(1)
        token = re.search(r"token: (\S+)", status).group(1)
        async with http_client(url, token, "notebook-test") as mcp:
            args = {"kernelspec": "python3", "label": "calc"}
            path = result_data(await mcp.call_tool("start_kernel", args))
            await mcp.call_tool("run_code", {"path": path, "code": "x = 41"})
            for i in range(2, 6):
                await client.async_execute_cell(nb.cells[i], i)
            seen = result_data(await mcp.call_tool("run_code", {"path": path, "code": "x"}))
        await client.async_execute_cell(nb.cells[6], 6)
    assert path == "~/calc.py"
    assert "calc.py" in shown(nb.cells[2]) and "mcp:notebook-test" in shown(nb.cells[2])
    assert shown(nb.cells[4]).strip() == "42"
    assert "41" in str(seen["results"])
    assert "stopped" in shown(nb.cells[6])
