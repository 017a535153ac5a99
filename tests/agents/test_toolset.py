"""The silik toolset on a standalone (in-process) manager, driven by scripted models."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from pydantic_ai import Agent, BinaryContent, models
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from silik_agents.toolset import LocalBackend, ToolPolicy, silik_toolset

models.ALLOW_MODEL_REQUESTS = False


def scripted(calls: list[tuple[str, dict[str, Any]]]):
    """A model that makes these tool calls one per step, then answers 'done'."""

    seen: list[list[Any]] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = sum(1 for m in messages if isinstance(m, ModelResponse))
        if messages and isinstance(messages[-1], ModelRequest):
            seen.append(list(messages[-1].parts))
        if step < len(calls):
            name, args = calls[step]
            return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=f"c{step}")])
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(model), seen


def tool_returns(seen: list[list[Any]]) -> list[Any]:
    return [p for parts in seen for p in parts if isinstance(p, ToolReturnPart | RetryPromptPart)]


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def backend():
    b = LocalBackend(caller="tester")
    try:
        yield b
    finally:
        await b.close()


async def test_start_run_and_read_back(backend):
    png = base64.b64encode(tiny_png()).decode()
    model, seen = scripted(
        [
            ("list_kernelspecs", {}),
            ("start_kernel", {"kernelspec": "python3", "label": "calc", "folder": "~/work"}),
            ("run_code", {"path": "~/work/calc.py", "code": "x = 6 * 7\nprint(x)\nx + 1"}),
            (
                "run_code",
                {
                    "path": "~/work/calc.py",
                    "code": f"from IPython.display import display\ndisplay({{'image/png': '{png}', 'text/plain': 'a plot'}}, raw=True)",
                },
            ),
            ("run_code", {"path": "~/work/calc.py", "code": "1/0"}),
            ("list_tree", {}),
            ("kernel_history", {"path": "~/work/calc.py", "n": 2}),
            ("silik", {"command": "tree"}),
        ]
    )
    agent = Agent(model, toolsets=[silik_toolset(backend)])
    result = await agent.run("go")
    assert result.output == "done"
    returns = tool_returns(seen)
    by_name = {}
    for part in returns:
        by_name.setdefault(part.tool_name, []).append(part.content)
    assert any(s["name"] == "python3" for s in by_name["list_kernelspecs"][0])
    assert by_name["start_kernel"] == ["~/work/calc.py"]
    first, image_run, failing = by_name["run_code"]
    assert first["stdout"] == "42\n" and first["results"] == ["43"] and first["status"] == "ok"
    assert image_run[0]["mime_types"] == ["image/png", "text/plain"]
    assert isinstance(image_run[1], BinaryContent) and image_run[1].media_type == "image/png"
    assert failing["status"] == "error" and failing["ename"] == "ZeroDivisionError"
    assert "\x1b[" not in failing["traceback"]
    kernel = [t for t in by_name["list_tree"][0] if t["type"] == "kernel"][0]
    assert kernel["started_by"] == "tester" and kernel["started_by_you"] is True
    assert by_name["kernel_history"][0] == [
        f"from IPython.display import display\ndisplay({{'image/png': '{png}', 'text/plain': 'a plot'}}, raw=True)",
        "1/0",
    ]
    assert "calc.py" in by_name["silik"][0]


async def test_bad_path_is_a_failed_result_and_the_model_recovers(backend):
    model, seen = scripted(
        [
            ("run_code", {"path": "~/nope.py", "code": "1"}),
            ("start_kernel", {"kernelspec": "pyhton3", "label": "k"}),
        ]
    )
    agent = Agent(model, toolsets=[silik_toolset(backend)])
    assert (await agent.run("go")).output == "done"
    returns = tool_returns(seen)
    # failed results, not retry prompts: they never use up a retry budget and crash the run
    assert returns[0].outcome == "failed" and "no such kernel or folder" in str(returns[0].content)
    assert returns[1].outcome == "failed" and "did you mean python3" in str(returns[1].content)


async def test_truncated_output_can_be_paged(backend):
    model, seen = scripted(
        [
            ("start_kernel", {"kernelspec": "python3", "label": "k"}),
            ("run_code", {"path": "~/k.py", "code": "for i in range(3000): print(i)"}),
        ]
    )
    tools = silik_toolset(backend, ToolPolicy(max_output_chars=1000))
    agent = Agent(model, toolsets=[tools])
    await agent.run("go")
    run = [p for p in tool_returns(seen) if p.tool_name == "run_code"][0].content
    assert run["truncated"] is True and len(run["stdout"]) < 1000
    state = tools.silik_tools  # type: ignore[attr-defined]
    text = state.runs[run["run_id"]]
    assert text.splitlines()[:3] == ["0", "1", "2"] and text.splitlines()[-1] == "2999"
    # get_output pages through all of it
    get_output = tools.tools["get_output"].function
    first = await get_output(run["run_id"], 0)
    assert first.startswith("0\n1\n") and "more characters" in first


async def test_policy_limits(backend):
    # a kernel the agent did not start
    await backend.manager.start("python3", ["human"], started_by="user")
    model, seen = scripted(
        [
            ("run_code", {"path": "~/human.py", "code": "1"}),
            ("start_kernel", {"kernelspec": "silik", "label": "s"}),
            ("start_kernel", {"kernelspec": "python3", "label": "a"}),
            ("start_kernel", {"kernelspec": "python3", "label": "b"}),
            ("silik", {"command": "stop ~/human.py"}),
        ]
    )
    policy = ToolPolicy(allowed_kernelspecs=["python3"], max_kernels=1)
    agent = Agent(model, toolsets=[silik_toolset(backend, policy)])
    await agent.run("go")
    returns = tool_returns(seen)
    contents = [str(p.content) for p in returns]
    assert [p.outcome for p in returns] == ["failed", "failed", "success", "failed", "failed"]
    assert "started by user, not by you" in contents[0]
    assert "you may not start 'silik'" in contents[1]
    assert contents[2] == "~/a.py"
    assert "your limit" in contents[3]
    assert "not allowed for you" in contents[4]
    assert "human.py" in backend.manager.tree.root.children


async def test_timeout_interrupts_and_returns_partial_output(backend):
    model, seen = scripted(
        [
            ("start_kernel", {"kernelspec": "python3", "label": "k"}),
            (
                "run_code",
                {
                    "path": "~/k.py",
                    "code": "import time\nprint('started', flush=True)\ntime.sleep(30)",
                    "timeout": 1,
                },
            ),
            ("run_code", {"path": "~/k.py", "code": "print('alive')"}),
        ]
    )
    agent = Agent(model, toolsets=[silik_toolset(backend)])
    await agent.run("go")
    runs = [p.content for p in tool_returns(seen) if p.tool_name == "run_code"]
    assert runs[0]["timed_out"] is True and runs[0]["stdout"] == "started\n"
    assert runs[0]["ename"] == "KeyboardInterrupt"
    assert runs[1]["stdout"] == "alive\n"
