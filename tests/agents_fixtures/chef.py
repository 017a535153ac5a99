"""A scripted agent for the agent-kernel tests: no network, no randomness.

Its model is a FunctionModel whose stream function answers by keywords in the
latest user message, so a test chooses the behaviour by what it types:

- "hello"          calls say("hello, world"), which prints to stdout
- "stderr"         calls warn(...), which prints to stderr
- "remember X"     answers "OK, I will remember X."
- "what ... remember"  recalls X from an earlier turn (needs the history)
- "run code"       calls run_code(code="1+1", kernel="k1.py"), which needs approval
- "think"          streams a thinking part, then an answer
- "slow"           streams 400 tokens, 25 ms apart (for interrupts)
- "add A and B"    calls add(a=A, b=B), its arguments in two chunks, then answers
                   word by word, 30 ms apart (several live updates)
- anything else    "You said: ..."
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator

from pydantic_ai import Agent, models
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel

from silik_agents import AgentKernel, command

if os.environ.get("SILIK_TEST_ALLOW_REQUESTS") != "1":
    models.ALLOW_MODEL_REQUESTS = False


def _user_prompts(messages: list[ModelMessage]) -> list[str]:
    return [
        p.content
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, UserPromptPart) and isinstance(p.content, str)
    ]


def _words(text: str) -> list[str]:
    return [w + " " for w in text.split(" ")][:-1] + [text.split(" ")[-1]]


async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[object]:
    last = messages[-1]
    returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
    if returns:
        ret = returns[0]
        if ret.outcome == "denied":
            text = f"The call was not allowed: {ret.content}"
        else:
            text = f"The tool said: {ret.content}"
        for chunk in _words(text):
            yield chunk
            if ret.tool_name == "add":
                await asyncio.sleep(0.03)
        return
    prompts = _user_prompts(messages)
    prompt = prompts[-1] if prompts else ""
    low = prompt.lower()
    if "hello" in low:
        yield {
            0: DeltaToolCall(name="say", json_args='{"text": "hello, world"}', tool_call_id="t1")
        }
    elif "stderr" in low:
        yield {0: DeltaToolCall(name="warn", json_args='{"text": "careful"}', tool_call_id="t2")}
    elif "run code" in low:
        yield {0: DeltaToolCall(name="run_code", json_args='{"code": "1+1",', tool_call_id="t3")}
        yield {0: DeltaToolCall(json_args=' "kernel": "k1.py"}')}
    elif m := re.match(r"add (\d+) and (\d+)", low):
        yield {0: DeltaToolCall(name="add", json_args=f'{{"a": {m.group(1)},', tool_call_id="t4")}
        yield {0: DeltaToolCall(json_args=f' "b": {m.group(2)}}}')}
    elif "what" in low and "remember" in low:
        found = [m.group(1) for p in prompts[:-1] if (m := re.search(r"remember (\w+)", p))]
        text = f"You asked me to remember {found[-1]}." if found else "I don't remember anything."
        for chunk in _words(text):
            yield chunk
    elif m := re.search(r"remember (\w+)", prompt):
        for chunk in _words(f"OK, I will remember {m.group(1)}."):
            yield chunk
    elif "think" in low:
        yield {0: DeltaThinkingPart(content="Let me think ")}
        yield {0: DeltaThinkingPart(content="about it.")}
        yield "Thought about it."
    elif "slow" in low:
        for i in range(400):
            yield f"tok{i} "
            await asyncio.sleep(0.025)
    else:
        for chunk in _words(f"You said: {prompt}"):
            yield chunk


def make_agent() -> Agent:
    agent = Agent(
        FunctionModel(stream_function=script, model_name="chef-script"),
        name="chef",
        instructions="You are a helpful test chef.",
    )

    @agent.tool_plain
    async def say(text: str) -> str:
        """Print text to the notebook."""
        print(text)
        return "said it"

    @agent.tool_plain
    async def warn(text: str) -> str:
        """Print a warning."""
        print(text, file=sys.stderr)
        return "warned"

    @agent.tool_plain(requires_approval=True)
    def run_code(code: str, kernel: str) -> str:
        """Run code on a kernel (needs approval)."""
        return f"ran {code} on {kernel}"

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    return agent


agent = make_agent()


class ChefKernel(AgentKernel):
    """The subclass recipe: the agent as a class attribute, plus a custom command."""

    agent = agent

    @command("/recipe", usage="/recipe DISH", help="Show the recipe for DISH.")
    async def cmd_recipe(self, arg: str) -> str:
        return f"Recipe for {arg or 'nothing'}: mix, then bake."
