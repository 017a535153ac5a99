"""The real provider path: an agent kernel on `openai-chat:` against a local OpenAI-compatible server.

The server (tests/agents_fixtures/fake_openai.py) streams scripted chat
completion chunks over SSE: first a tool call, then the answer that uses its
result. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import pytest
from agents_fixtures.fake_openai import FakeOpenAI
from agents_fixtures.kernels import AgentDriver, displays, execute_with_metadata, final_display


def test_openai_chat_model_streams_answer_and_tool_call():
    with FakeOpenAI() as server:
        driver = AgentDriver(
            "chef",
            SILIK_AGENT_MODEL="openai-chat:fake-model",
            SILIK_AGENT_BASE_URL=server.base_url,
            SILIK_TEST_ALLOW_REQUESTS="1",
        )
        try:
            assert "openai-chat:fake-model (from SILIK_AGENT_MODEL)" in driver.ok("/model").text
            res = driver.ok("please add 2 and 3")
            data = final_display(res)
            assert data["text/plain"] == "[tool] add(a=2, b=3) -> 5\nThe sum is 5."
            assert data["text/markdown"] == "🔧 `add(a=2, b=3)` → `5`\n\nThe sum is 5."
            partial = [m["content"]["data"].get("text/markdown", "") for m in displays(res)]
            # The call was shown (arguments streaming, then running) before any answer text.
            early = [p for p in partial if "The sum" not in p]
            assert any(p.startswith("🔧 `add(") for p in early)
            assert len(partial) > len(early) + 1, "the answer should arrive in pieces"
            first, second = server.requests
            assert first["model"] == "fake-model" and first["stream"] is True
            # The agent's own tools, then the silik toolset every agent kernel gets
            # (minus run_code: the agent's own tool of that name wins).
            assert [t["function"]["name"] for t in first["tools"]] == [
                "say",
                "warn",
                "run_code",
                "add",
                "list_kernelspecs",
                "list_tree",
                "start_kernel",
                "get_output",
                "interrupt_kernel",
                "restart_kernel",
                "stop_kernel",
                "kernel_history",
                "silik",
                "ask_agent",
            ]
            assert second["messages"][-1]["role"] == "tool"
            # The usage is the provider's own count (11 in, 7 out per response).
            spent = {"requests": 2, "input_tokens": 22, "output_tokens": 14, "total_tokens": 36}
            usage = res.reply["metadata"]["silik_agents"]["usage"]
            assert usage == {**spent, "tool_calls": 1, "cost": None}  # no price for fake-model
            assert "this kernel  2         22            14             1           -" in (
                driver.ok("/usage").text
            )
            # A model with a known price: its cost is counted, and a cost limit enforced.
            driver.ok("/model openai-chat:gpt-4o")
            driver.ok("/reset")  # (the server answers at once when the history has a result)
            priced = driver.ok("please add 2 and 3").reply["metadata"]["silik_agents"]
            assert priced["usage"]["cost"] == pytest.approx(2 * (11 * 2.5 + 7 * 10) / 1e6)
            driver.ok("/reset")
            meta = {"silik_agents": {"limits": {"cost": 0.0001}}}
            res = driver.collect(execute_with_metadata(driver, "please add 2 and 3", meta))
            assert res.content["evalue"] == (
                "this turn used $0.000195 of $0.000100 (the limit its caller gave this turn); "
                "raise it or ask a smaller question"
            )
        finally:
            driver.shutdown()
