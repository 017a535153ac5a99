"""A pydantic-ai Agent uses silik through pydantic-ai's own MCP toolset."""

from __future__ import annotations

import json

import pytest
from mcp_helpers import server_command

pytest.importorskip("pydantic_ai.mcp", reason="pydantic-ai's MCP client (pydantic-ai-slim[mcp])")

from fastmcp.client.transports import StdioTransport  # noqa: E402
from pydantic_ai import Agent, models  # noqa: E402
from pydantic_ai.mcp import MCPToolset  # noqa: E402
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import FunctionModel  # noqa: E402

models.ALLOW_MODEL_REQUESTS = False


async def test_an_agent_computes_in_a_kernel_it_started_over_mcp():
    calls = [
        ("start_kernel", {"kernelspec": "python3", "label": "calc"}),
        ("run_code", {"path": "~/calc.py", "code": "6*7"}),
        ("stop_kernel", {"path": "~/calc.py"}),
    ]
    returns: list[ToolReturnPart] = []

    def model(messages, info):
        returns.extend(p for p in messages[-1].parts if isinstance(p, ToolReturnPart))
        step = sum(1 for m in messages if isinstance(m, ModelResponse))
        if step < len(calls):
            name, args = calls[step]
            return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=f"c{step}")])
        ran = returns[1].content  # pydantic-ai reads the JSON text as data
        ran = json.loads(ran) if isinstance(ran, str) else ran
        return ModelResponse(parts=[TextPart(f"the answer is {ran['results'][0]}")])

    command, args, env = server_command()
    toolset = MCPToolset(StdioTransport(command=command, args=args, env=env))
    agent = Agent(FunctionModel(model), toolsets=[toolset])
    async with agent:
        result = await agent.run("what is 6 times 7?")
    assert result.output == "the answer is 42"
    assert [r.tool_name for r in returns] == ["start_kernel", "run_code", "stop_kernel"]
    assert returns[0].content == "~/calc.py"
