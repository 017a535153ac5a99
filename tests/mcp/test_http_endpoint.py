"""The streamable HTTP endpoint in the test's own loop, with a tiny MCPServer:
the official client gets through with the token; anything else is refused."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp")

import httpx  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402
from mcp_http_procs import INIT  # noqa: E402

from silik_kernel.mcp.http import HttpEndpoint, loopback_origin  # noqa: E402

TOKEN = "test-token-1234"
ACCEPT = {"Accept": "application/json, text/event-stream"}


def tiny_server() -> MCPServer:
    server = MCPServer("tiny", log_level="WARNING")

    @server.tool()
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    return server


def client(url: str, token: str = TOKEN) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http))


@pytest.fixture(params=[False, True], ids=["sessions", "stateless"])
async def endpoint(request):
    ep = HttpEndpoint(tiny_server(), TOKEN, stateless=request.param)
    await ep.start()
    try:
        yield ep
    finally:
        await ep.stop()


async def test_the_official_client_calls_a_tool_with_the_token(endpoint):
    async with client(endpoint.url) as c:
        tools = await c.list_tools()
        assert [t.name for t in tools.tools] == ["add"]
        result = await c.call_tool("add", {"a": 2, "b": 40})
        assert result.structured_content == {"result": 42}


async def test_two_clients_at_once(endpoint):
    async with client(endpoint.url) as a, client(endpoint.url) as b:
        ra = await a.call_tool("add", {"a": 1, "b": 1})
        rb = await b.call_tool("add", {"a": 2, "b": 2})
        assert (ra.structured_content, rb.structured_content) == ({"result": 2}, {"result": 4})


async def post(url: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as h:
        return await h.post(url, json=INIT, headers={**ACCEPT, **headers})


async def test_a_missing_or_wrong_token_gets_401(endpoint):
    missing = await post(endpoint.url, {})
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.text
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await post(endpoint.url, {"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    basic = await post(endpoint.url, {"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    right = await post(endpoint.url, {"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200


async def test_a_foreign_host_or_origin_is_refused_even_with_the_token(endpoint):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rebound = await post(endpoint.url, {**auth, "Host": f"evil.example:{endpoint.port}"})
    assert rebound.status_code == 403
    assert "Host" in rebound.text
    other_port = await post(endpoint.url, {**auth, "Host": f"127.0.0.1:{endpoint.port + 1}"})
    assert other_port.status_code == 403
    page = await post(endpoint.url, {**auth, "Origin": "https://evil.example"})
    assert page.status_code == 403
    assert "Origin" in page.text
    local_page = await post(endpoint.url, {**auth, "Origin": "http://localhost:8888"})
    assert local_page.status_code == 200
    by_name = await post(endpoint.url, {**auth, "Host": f"localhost:{endpoint.port}"})
    assert by_name.status_code == 200


def test_loopback_origins():
    assert loopback_origin("http://127.0.0.1:8888")
    assert loopback_origin("http://localhost")
    assert loopback_origin("http://[::1]:3000")
    for origin in (
        "null",
        "https://example.com",
        "http://localhost.evil.com",
        "file://",
        "http://127.0.0.1:x",
    ):
        assert not loopback_origin(origin), origin


async def test_stop_closes_the_port_and_a_taken_port_is_an_oserror():
    ep = HttpEndpoint(tiny_server(), TOKEN)
    await ep.start()
    taken = HttpEndpoint(tiny_server(), TOKEN, port=ep.port)
    with pytest.raises(OSError):
        await taken.start()
    await ep.stop()
    assert not ep.running
    with pytest.raises(httpx.ConnectError):
        await post(ep.url, {"Authorization": f"Bearer {TOKEN}"})
    again = HttpEndpoint(tiny_server(), TOKEN, port=ep.port)  # the port is free again
    await again.start()
    await again.stop()


async def test_calls_on_one_connection_do_not_wait_for_delayed_acks():
    """Without TCP_NODELAY on the accepted sockets every call after the first on a
    keep-alive connection took ~44 ms (the peer's delayed ACK); it takes ~2 ms."""
    import statistics
    import time

    ep = HttpEndpoint(tiny_server(), TOKEN)
    await ep.start()
    try:
        async with client(ep.url) as c:
            await c.call_tool("add", {"a": 1, "b": 1})
            took = []
            for _ in range(15):
                began = time.perf_counter()
                await c.call_tool("add", {"a": 1, "b": 1})
                took.append(time.perf_counter() - began)
    finally:
        await ep.stop()
    assert statistics.median(took) < 0.030, [round(t * 1000, 1) for t in took]
