"""ask_agent over MCP: an MCP client starts an agent kernel and asks it things
(the scripted `team` agent of agents_fixtures/team.py)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from agents_fixtures.kernels import agent_prefix, clean_env, team_config_dir
from mcp_helpers import CALL_TIMEOUT, ClientHolder, data_of, server_command, text_of, write_policy

from silik_agents.approvals import NO_STDIN_REASON

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory):
    from mcp import StdioServerParameters

    config = team_config_dir(tmp_path_factory.mktemp("team-config"))
    policy = write_policy(
        tmp_path_factory.mktemp("mcp") / "mcp.toml", allowed_kernelspecs=["team"], max_kernels=2
    )
    command, argv, env = server_command("--config", str(policy))
    env = clean_env(
        PYTHONPATH=env["PYTHONPATH"],
        JUPYTER_PATH=str(agent_prefix() / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(config),
    )
    params = StdioServerParameters(command=command, args=argv, env=env)
    async with ClientHolder(params) as c:
        yield c


async def call(client, name, **args):
    return await asyncio.wait_for(client.call_tool(name, args), CALL_TIMEOUT)


async def test_a_client_starts_an_agent_and_asks_it_in_one_thread(client):
    path = text_of(await call(client, "start_kernel", kernelspec="team", label="helper"))
    assert path == "~/helper.txt"
    try:
        first = data_of(await call(client, "ask_agent", path=path, message="hello"))
        assert first["path"] == path and first["answer"] == "heard: hello (turn 1)"
        assert first["tools"] == [] and first["usage"]["requests"] == 1
        again = data_of(await call(client, "ask_agent", path=path, message="again"))
        assert again["answer"] == "heard: again (turn 2)"
        anew = data_of(await call(client, "ask_agent", path=path, message="anew", fresh=True))
        assert anew["answer"] == "heard: anew (turn 1)"
        # a long turn keeps the client waiting with progress notifications
        progress: list[str] = []

        async def on_progress(done, total, message):
            progress.append(message or "")

        slept = await asyncio.wait_for(
            client.call_tool(
                "ask_agent", {"path": path, "message": "sleep 2.5"}, progress_callback=on_progress
            ),
            CALL_TIMEOUT,
        )
        assert data_of(slept)["answer"] == "slept"
        assert progress and all(m.startswith("ask_agent: working for ") for m in progress)
        # its approval prompts cannot reach a person through MCP: denied, saying why
        asked = data_of(await call(client, "ask_agent", path=path, message="cmd help"))
        assert asked["tools"] == ["silik"]
        assert asked["answer"].startswith("That failed: ") and NO_STDIN_REASON in asked["answer"]
    finally:
        await call(client, "stop_kernel", path=path)
    gone = await call(client, "ask_agent", path=path, message="hello")
    assert gone.is_error and "no such kernel or folder: ~/helper.txt" in text_of(gone)
