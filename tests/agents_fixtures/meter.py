"""A scripted agent whose usage is known exactly, for the budget and usage tests.

"tick N" calls tick() N times, one call per model response, then answers "done".
Anything else is answered "done" at once. FunctionModel's streamed usage is 50
input tokens per request and one output token per chunk here ("{}" and "done"),
so a "tick N" turn uses N + 1 requests, 50 * (N + 1) input tokens, N + 1 output
tokens and N tool calls.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

from pydantic_ai import Agent, models
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

if os.environ.get("SILIK_TEST_ALLOW_REQUESTS") != "1":
    models.ALLOW_MODEL_REQUESTS = False


def expected_usage(ticks: int) -> dict[str, int]:
    """The usage of a finished "tick N" turn (see the module docstring)."""
    return {
        "requests": ticks + 1,
        "input_tokens": 50 * (ticks + 1),
        "output_tokens": ticks + 1,
        "total_tokens": 51 * (ticks + 1),
        "tool_calls": ticks,
    }


def _turn(messages: list[ModelMessage]) -> tuple[str, int]:
    """The latest prompt and how many tool results followed it."""
    done = 0
    for m in reversed(messages):
        if isinstance(m, ModelRequest):
            for p in m.parts:
                if isinstance(p, UserPromptPart) and isinstance(p.content, str):
                    return p.content, done
            done += sum(isinstance(p, ToolReturnPart) for p in m.parts)
    return "", done


async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[object]:
    prompt, done = _turn(messages)
    m = re.match(r"tick (\d+)", prompt)
    if m and done < int(m.group(1)):
        yield {0: DeltaToolCall(name="tick", json_args="{}", tool_call_id=f"tick{done}")}
        return
    yield "done"


agent = Agent(FunctionModel(stream_function=script, model_name="meter-script"), name="meter")


@agent.tool_plain
def tick() -> str:
    """Count one."""
    return "ok"
