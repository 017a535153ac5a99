"""The silik tools over MCP: the official client against `python -m silik_kernel mcp`."""

from __future__ import annotations

import asyncio
import base64
import inspect
import os

import pytest
import pytest_asyncio
from mcp_helpers import CALL_TIMEOUT, ClientHolder, data_of, server_params, text_of, write_policy

from silik_kernel.tools.definitions import SilikTools

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_IMAGE = 3000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory):
    policy = write_policy(
        tmp_path_factory.mktemp("mcp") / "mcp.toml",
        allowed_kernelspecs=["python3"],
        max_kernels=3,
        max_output_chars=1000,
        require_approval=["restart_kernel"],
    )
    params = server_params("--config", str(policy), "--max-image-bytes", str(MAX_IMAGE))
    async with ClientHolder(params) as c:
        yield c


async def call(client, name, **args):
    return await asyncio.wait_for(client.call_tool(name, args), CALL_TIMEOUT)


@pytest_asyncio.fixture(loop_scope="module")
async def kernel(client):
    """A python kernel started through MCP, stopped after the test."""
    path = text_of(await call(client, "start_kernel", kernelspec="python3", label="k"))
    assert path == "~/k.py"
    yield path
    await call(client, "stop_kernel", path=path)


async def test_the_tools_are_the_agents_tools(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == list(SilikTools.TOOL_NAMES)
    for name in SilikTools.TOOL_NAMES:
        shared = inspect.getdoc(getattr(SilikTools, name))
        if name == "run_code":  # it adds long cells: wait, then a job_id
            assert tools[name].description.splitlines()[0] == shared.splitlines()[0]
        elif name != "get_output":  # it pages jobs by cursor
            assert tools[name].description == shared
    assert set(tools["run_code"].input_schema["properties"]) == {"path", "code", "timeout", "wait"}


async def test_start_run_read_and_stop(client, kernel):
    ran = data_of(await call(client, "run_code", path=kernel, code="print('hi')\n6 * 7"))
    assert ran["status"] == "ok" and ran["stdout"] == "hi\n" and ran["results"] == ["42"]
    assert "running" not in ran and "job_id" not in ran
    tree = data_of(await call(client, "list_tree"))
    mine = [t for t in tree if t["type"] == "kernel"]
    assert [(t["path"], t["started_by"]) for t in mine] == [(kernel, "mcp:mcp")]
    # long output: cut head and tail, all of it paged through get_output
    long = data_of(
        await call(client, "run_code", path=kernel, code="for i in range(2000): print(i)")
    )
    assert long["truncated"] is True and len(long["stdout"]) < 1000 and long["job_id"]
    assert long["stdout"].startswith("0\n1\n") and long["stdout"].endswith("1999\n")
    text, cursor = "", 0
    while True:
        page = data_of(await call(client, "get_output", job_id=long["job_id"], cursor=cursor))
        text, cursor = text + page["text"], page["cursor"]
        if not page["more"]:
            break
    assert page["running"] is False and page["status"] == "ok"
    assert text == "".join(f"{i}\n" for i in range(2000))
    failed = data_of(await call(client, "run_code", path=kernel, code="1/0"))
    assert failed["status"] == "error" and failed["ename"] == "ZeroDivisionError"
    assert data_of(await call(client, "kernel_history", path=kernel, n=1)) == ["1/0"]


async def test_images_under_the_cap_are_shown_and_larger_ones_linked(client, kernel):
    small = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 100).decode()
    big_png = b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_IMAGE * 2)
    big = base64.b64encode(big_png).decode()
    code = (
        "from IPython.display import display\n"
        f"display({{'image/png': '{small}', 'text/plain': 'small'}}, raw=True)\n"
        f"display({{'image/png': '{big}', 'text/plain': 'big'}}, raw=True)\n"
        "display({'text/html': '<table><tr><td>only</td><td>html</td></tr></table>'}, raw=True)"
    )
    result = await call(client, "run_code", path=kernel, code=code)
    summary = data_of(result)
    assert summary["results"] == ["small", "big", "only html"]
    image, note, link = result.content[1:]
    assert image.type == "image" and image.mime_type == "image/png"
    assert base64.b64decode(image.data) == base64.b64decode(small)
    assert link.type == "resource_link" and link.uri.startswith("silik://images/")
    assert link.mime_type == "image/png" and link.size == len(big_png)
    assert note.type == "text" and "over the image cap of 3000 bytes" in note.text
    assert f"read the resource {link.uri}" in note.text
    read = await asyncio.wait_for(client.read_resource(link.uri), CALL_TIMEOUT)
    (blob,) = read.contents
    assert blob.mime_type == "image/png" and base64.b64decode(blob.blob) == big_png
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["silik://images/{image_id}"]
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError, match="no image silik://images/nope: it has expired"):
        await asyncio.wait_for(client.read_resource("silik://images/nope"), CALL_TIMEOUT)
    # the connection is still there
    assert data_of(await call(client, "run_code", path=kernel, code="1 + 1"))["results"] == ["2"]


async def test_a_cell_longer_than_wait_becomes_a_job(client, kernel):
    progress: list[str] = []

    async def on_progress(done, total, message):
        progress.append(message or "")

    code = "import time\nfor i in range(4):\n    print(i, flush=True)\n    time.sleep(1)\n'end'"
    first = await asyncio.wait_for(
        client.call_tool(
            "run_code", {"path": kernel, "code": code, "wait": 1}, progress_callback=on_progress
        ),
        CALL_TIMEOUT,
    )
    first = data_of(first)
    assert first["running"] is True and first["status"] == "running" and first["job_id"]
    assert any(kernel in m for m in progress)
    text, cursor = first["stdout"], first["cursor"]
    for _ in range(20):
        page = data_of(await call(client, "get_output", job_id=first["job_id"], cursor=cursor))
        text, cursor = text + page["text"], page["cursor"]
        if not page["running"] and not page["more"]:
            break
    assert page["status"] == "ok" and text == "0\n1\n2\n3\n'end'\n"
    # the kernel is free again
    assert data_of(await call(client, "run_code", path=kernel, code="1 + 1"))["results"] == ["2"]


async def test_interrupt_a_running_job(client, kernel):
    job = data_of(
        await call(client, "run_code", path=kernel, code="import time; time.sleep(30)", wait=1)
    )
    assert job["running"] is True
    said = text_of(await call(client, "interrupt_kernel", path=kernel))
    assert said == f"interrupted {kernel}"
    for _ in range(10):
        page = data_of(await call(client, "get_output", job_id=job["job_id"], cursor=0))
        if not page["running"]:
            break
    assert page["status"] == "error" and page["ename"] == "KeyboardInterrupt"


async def test_refusals_and_bad_input_are_tool_errors_with_hints(client):
    cases = [
        (
            "start_kernel",
            {"kernelspec": "silik", "label": "s"},
            "may not start 'silik'; allowed: python3",
        ),
        ("run_code", {"path": "~/nope.py", "code": "1"}, "no such kernel or folder: ~/nope.py"),
        ("silik", {"command": "shutdown"}, "not allowed for you; allowed: help"),
        ("restart_kernel", {"path": "~/x.py"}, "does not support elicitation"),
    ]
    for tool, args, expected in cases:
        result = await call(client, tool, **args)
        assert result.is_error and expected in text_of(result), (tool, text_of(result))
    bad = await call(client, "run_code", path=3)
    assert bad.is_error
    assert "path: input should be a valid string; code: field required" in text_of(bad)
    assert "It takes: path (string), code (string)" in text_of(bad)
    unknown = await call(client, "get_output", job_id="nope")
    assert unknown.is_error and "job ids come from run_code" in text_of(unknown)
    no_tool = await call(client, "run_cell", code="1")
    assert no_tool.is_error and "the tools are: list_kernelspecs" in text_of(no_tool)
    # the connection is still there
    assert data_of(await call(client, "list_tree")) == [{"path": "~", "type": "folder"}]
