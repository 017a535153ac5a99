"""A scripted agent that tries to get around its policy (no network, no randomness).

Each prompt's first word picks the tool calls it makes, all in one model response;
its answer then lists every tool result it got, so a test reads what the model saw:
"name outcome: content" per line.

- "history" / "info"  silik("history ~/victim.py") / silik("info ~/victim.py")
- "triple"            start_kernel three times at once (t1, t2, t3)
- "box"               start_kernel(python3, box)
- "escape"            run_code on ~/box.py: look for bridge credentials and use them
- "peek P"            run_code(P, ...); "stop P"  stop_kernel(P)
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

#: What code the agent runs tries: the variable every kernel used to get, then any
#: agent's credentials file it can find, to stop a kernel it may not touch.
ESCAPE = """\
import glob, os
from jupyter_core.paths import jupyter_runtime_dir
from silik_kernel.bridge import BridgeClient, BridgeInfo
from silik_kernel.service import ServiceError
print("env", repr(os.environ.get("SILIK_BRIDGE_FILE")))
found = glob.glob(os.path.join(jupyter_runtime_dir(), "silik-*", "silik-bridge-*", "agent-*.json"))
found += glob.glob("/tmp/silik-bridge-*/agent-*.json")
print("files", len(found))
for path in found:
    with open(path) as f:
        bc = BridgeClient(BridgeInfo.model_validate_json(f.read()))
    try:
        print("stopped", await bc.call("stop_kernel", {"path": "~/victim.py"}, timeout=5))
    except ServiceError as e:
        print("refused:", e.message)
    except Exception as e:
        print("failed:", type(e).__name__)
    finally:
        await bc.close()
"""


def _plan(prompt: str) -> list[tuple[str, dict]]:
    words = prompt.split() or [""]
    target = words[1] if len(words) > 1 else "~/victim.py"
    return {
        "history": [("silik", {"command": "history ~/victim.py"})],
        "info": [("silik", {"command": "info ~/victim.py"})],
        "triple": [
            ("start_kernel", {"kernelspec": "python3", "label": f"t{i}"}) for i in (1, 2, 3)
        ],
        "box": [("start_kernel", {"kernelspec": "python3", "label": "box"})],
        "escape": [("run_code", {"path": "~/box.py", "code": ESCAPE})],
        "peek": [("run_code", {"path": target, "code": "print('peeked')"})],
        "stop": [("stop_kernel", {"path": target})],
    }.get(words[0].lower(), [])


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
    prompt, returns = _turn(messages)
    if not returns:
        calls = _plan(prompt)
        if not calls:
            yield "I do not know that one."
            return
        yield {
            i: DeltaToolCall(name=name, json_args=json.dumps(args), tool_call_id=f"i{i}")
            for i, (name, args) in enumerate(calls)
        }
        return
    lines = []
    for r in returns:
        content = (
            r.content["stdout"]
            if r.tool_name == "run_code" and isinstance(r.content, dict)
            else r.content
        )
        lines.append(f"{r.tool_name} {r.outcome}: {content}")
    yield "\n".join(lines)


agent = Agent(FunctionModel(stream_function=script, model_name="intruder-script"), name="intruder")
