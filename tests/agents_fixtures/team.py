"""A scripted agent that asks other agents (ask_agent); several run in one tree.

Typed prompts choose the plan (no network, no randomness):

- "ask PATH REST"        ask_agent(PATH, REST), then "PATH answered: ANSWER [tools: ...]"
- "fresh PATH REST"      the same with fresh=True
- "within S PATH REST"   the same with timeout=S
- "start LABEL"          start_kernel("team", LABEL)
- "cmd LINE"             silik(LINE) (needs approval when the config says so)
- "sleep S [FILE]"       the model writes its pid to FILE, then sleeps S seconds
- anything else          "heard: PROMPT (turn N)", N the user turns of this conversation
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

from pydantic_ai import Agent, models
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from agents_fixtures.orchestra import _turn

if os.environ.get("SILIK_TEST_ALLOW_REQUESTS") != "1":
    models.ALLOW_MODEL_REQUESTS = False


def _user_turns(messages: list[ModelMessage]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, UserPromptPart)
    )


def _call(name: str, args: dict) -> dict:
    return {0: DeltaToolCall(name=name, json_args=json.dumps(args), tool_call_id="t0")}


async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[object]:
    prompt, returns = _turn(messages)
    words = prompt.split(None, 2)
    head = words[0].lower() if words else ""
    if returns:
        last = returns[-1]
        if last.outcome != "success":
            yield f"That failed: {last.content}"
        elif last.tool_name == "ask_agent":
            tools = ", ".join(last.content["tools"]) or "none"
            yield f"{last.content['path']} answered: {last.content['answer']} [tools: {tools}]"
        else:
            yield f"Done: {last.content}"
        return
    if head in ("ask", "fresh") and len(words) == 3:
        args = {"path": words[1], "message": words[2], "fresh": head == "fresh"}
        yield _call("ask_agent", args)
    elif head == "within" and len(prompt.split(None, 3)) == 4:
        _, seconds, path, rest = prompt.split(None, 3)
        yield _call("ask_agent", {"path": path, "message": rest, "timeout": float(seconds)})
    elif head == "start" and len(words) == 2:
        yield _call("start_kernel", {"kernelspec": "team", "label": words[1]})
    elif head == "cmd" and len(words) >= 2:
        yield _call("silik", {"command": prompt.split(None, 1)[1]})
    elif head == "sleep":
        parts = prompt.split()
        if len(parts) > 2:
            with open(parts[2], "w") as f:
                f.write(str(os.getpid()))
        await asyncio.sleep(float(parts[1]))
        yield "slept"
    else:
        yield f"heard: {prompt} (turn {_user_turns(messages)})"


agent = Agent(FunctionModel(stream_function=script, model_name="team-script"), name="team")
