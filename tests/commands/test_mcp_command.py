"""The `mcp` command without a silik kernel's cell: an agent's or an MCP client's
`silik` tool cannot start a server, nor read its token."""

from __future__ import annotations

import pytest

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.builtin.mcp import client_setup, describe
from silik_kernel.commands.runner import run_command_text
from silik_kernel.commands.serving import McpStatus
from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager


@pytest.mark.parametrize("line", ["mcp start", "mcp status", "mcp stop"])
async def test_only_a_silik_cell_can_serve_or_show_the_token(line):
    with pytest.raises(SilikError, match="only a silik kernel's own cells"):
        await run_command_text(SilikManager(), BUILTIN_COMMANDS, line)


def test_status_gives_each_client_its_configuration():
    url = "http://127.0.0.1:8765/mcp"
    text = describe(McpStatus(True, url, "tok123", "/home/me/.jupyter/silik_agents/mcp.toml"))
    assert "token: tok123" in text and "secret" in text and "mcp.toml" in text
    assert (
        f'claude mcp add --transport http silik {url} --header "Authorization: Bearer tok123"'
        in text
    )
    assert '"headers": {"Authorization": "Bearer ${SILIK_MCP_TOKEN}"}' in text  # .mcp.json
    assert (
        f'[mcp_servers.silik]\n  url = "{url}"\n  bearer_token_env_var = "SILIK_MCP_TOKEN"' in text
    )
    assert '"value": "Bearer tok123"' in text  # Jupyter AI
    assert "not running" in describe(McpStatus(False))


def test_a_token_from_the_environment_is_not_written_out():
    text = client_setup("http://127.0.0.1:1/mcp", "$SILIK_MCP_TOKEN")
    assert "SILIK_MCP_TOKEN set" in text and "in place of $SILIK_MCP_TOKEN" in text
