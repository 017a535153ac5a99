"""A scripted orchestrating agent: it uses the silik toolset every AgentKernel gets.

Typed prompts choose the plan (no network, no randomness):

- "compute"  start_kernel(python3, calc), run_code(~/calc.py, x = 6 * 7; print(x)),
             then answer with what the kernel printed
- "peek P"   run_code(P, print('peeked')) on a kernel it may not own
- "tree"     list_tree(), then answer with each kernel and who started it
- "cleanup"  stop_kernel(~/calc.py)
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

from pydantic_ai import Agent, models
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

if os.environ.get("SILIK_TEST_ALLOW_REQUESTS") != "1":
    models.ALLOW_MODEL_REQUESTS = False

PLANS: dict[str, list[tuple[str, dict]]] = {
    "compute": [
        ("start_kernel", {"kernelspec": "python3", "label": "calc"}),
        ("run_code", {"path": "~/calc.py", "code": "x = 6 * 7\nprint(x)"}),
    ],
    "tree": [("list_tree", {})],
    "cleanup": [("stop_kernel", {"path": "~/calc.py"})],
}


def _turn(messages: list[ModelMessage]) -> tuple[str, list[ToolReturnPart]]:
    """The latest user prompt and the tool returns that followed it."""
    returns: list[ToolReturnPart] = []
    for m in reversed(messages):
        if not isinstance(m, ModelRequest):
            continue
        for p in m.parts:
            if isinstance(p, UserPromptPart) and isinstance(p.content, str):
                return p.content, returns
        returns = [p for p in m.parts if isinstance(p, ToolReturnPart)] + returns
    return "", returns


async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[object]:
    """Tool calls, then the answer in chunks of a few characters, as a model streams it."""
    async for chunk in _plan(messages):
        if isinstance(chunk, str):
            for start in range(0, len(chunk), 8):
                yield chunk[start : start + 8]
        else:
            yield chunk


async def _plan(messages: list[ModelMessage]) -> AsyncIterator[object]:
    prompt, returns = _turn(messages)
    word = prompt.split()[0].lower() if prompt.split() else ""
    plan = list(PLANS.get(word, []))
    if word == "peek":
        plan = [("run_code", {"path": prompt.split()[1], "code": "print('peeked')"})]
    step = len(returns)
    if step < len(plan):
        name, args = plan[step]
        yield {0: DeltaToolCall(name=name, json_args=json.dumps(args), tool_call_id=f"o{step}")}
        return
    if not returns:
        yield f"I only know: {', '.join(PLANS)} and peek."
        return
    last = returns[-1]
    if last.outcome != "success":
        yield f"That failed: {last.content}"
    elif last.tool_name == "run_code":
        yield f"The kernel printed {last.content['stdout'].strip()!r}."
    elif last.tool_name == "list_tree":
        kernels = [
            f"{t['path']} by {t['started_by']}" for t in last.content if t["type"] == "kernel"
        ]
        yield "Kernels: " + "; ".join(kernels)
    else:
        yield f"Done: {last.content}"


agent = Agent(
    FunctionModel(stream_function=script, model_name="orchestra-script"), name="orchestra"
)
