"""ChatSession in process: turns, history, failures, cancellation, approvals, tracing."""

from __future__ import annotations

import asyncio

import pytest
from agents_fixtures.chef import make_agent
from pydantic_ai import Agent, models
from pydantic_ai.exceptions import ModelConnectionError
from pydantic_ai.messages import ModelMessage, PartDeltaEvent, PartStartEvent
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.tools import ToolApproved, ToolDenied

from silik_agents.chat import ChatSession, message_id
from silik_agents.config import AgentSettings, LogfireSettings
from silik_agents.errors import explain
from silik_agents.model_choice import build_model
from silik_agents.observability import instrument
from silik_agents.render import TurnView

models.ALLOW_MODEL_REQUESTS = False


async def _turn(chat: ChatSession, agent, prompt: str, **kw) -> tuple[TurnView, object]:
    view = TurnView()
    result = await chat.run_turn(agent, prompt, on_event=view.apply, **kw)
    view.finish(result.output)
    return view, result


async def test_turns_continue_the_conversation_and_get_ids():
    chat, agent = ChatSession(), make_agent()
    await _turn(chat, agent, "remember paprika")
    view, result = await _turn(chat, agent, "what did I ask you to remember?")
    assert view.answer == "You asked me to remember paprika."
    assert chat.turns == 2 and len(chat.messages) == 4
    assert result.message_ids == [message_id(m) for m in chat.messages[2:]]
    assert all(len(i) == 32 for i in result.message_ids)
    assert chat.usage.requests == 2
    assert chat.reset() == 4 and chat.messages == []


async def test_a_failed_turn_is_not_added_but_its_tokens_count():
    calls = 0

    async def flaky(messages: list[ModelMessage], info: AgentInfo):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("provider fell over")
        yield "fine"

    agent = Agent(FunctionModel(stream_function=flaky))
    chat = ChatSession()
    await _turn(chat, agent, "one")
    before = list(chat.messages)
    with pytest.raises(RuntimeError, match="fell over"):
        await _turn(chat, agent, "two")
    assert chat.messages == before and chat.turns == 1
    await _turn(chat, agent, "three")
    assert [m.parts[0].content for m in chat.messages[::2]] == ["one", "three"]


async def test_cancelling_mid_stream_keeps_only_complete_turns():
    chat, agent = ChatSession(), make_agent()
    await _turn(chat, agent, "remember dill")
    seen: list[object] = []
    started = asyncio.Event()

    def on_event(event):
        seen.append(event)
        if isinstance(event, PartDeltaEvent | PartStartEvent):
            started.set()

    task = asyncio.ensure_future(chat.run_turn(agent, "slow please", on_event=on_event))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert len(chat.messages) == 2 and chat.turns == 1
    assert chat.usage.requests >= 2  # the cancelled request is counted
    view, _ = await _turn(chat, agent, "what did I ask you to remember?")
    assert view.answer == "You asked me to remember dill."


@pytest.mark.parametrize("approve", [True, False])
async def test_deferred_approvals_are_resolved_inline(approve):
    asked = []

    async def resolve(ctx, requests):
        asked.extend(c.tool_name for c in requests.approvals)
        decision = ToolApproved() if approve else ToolDenied("not today")
        return requests.build_results(
            approvals={c.tool_call_id: decision for c in requests.approvals}
        )

    view, _ = await _turn(ChatSession(), make_agent(), "run code", resolve_deferred=resolve)
    assert asked == ["run_code"]
    if approve:
        assert view.answer == "The tool said: ran 1+1 on k1.py"
    else:
        assert view.answer == "The call was not allowed: not today"
        assert "denied: not today" in view.plain()


async def test_model_override_per_turn():
    view, result = await _turn(
        ChatSession(), make_agent(), "hi", model=TestModel(call_tools=[], custom_output_text="T")
    )
    assert view.answer == "T" and result.output == "T"


async def test_unreachable_server_says_where_and_what_to_check(monkeypatch):
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # 127.0.0.1 only
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = AgentSettings(base_url="http://127.0.0.1:9/v1")
    model = build_model("openai-chat:llama3.2", settings)
    model.client.max_retries = 0
    with pytest.raises(ModelConnectionError) as info:
        await _turn(ChatSession(), make_agent(), "hi", model=model)
    err = explain(info.value, config_file="c.toml", base_url=settings.base_url, model="m")
    assert "could not reach the model server at http://127.0.0.1:9/v1" in err.message
    assert "ollama serve" in (err.hint or "")


async def test_logfire_traces_agent_runs(capfire):
    agent = make_agent()
    instrument(agent, LogfireSettings(enabled=True), service_name="chef", configure=False)
    await _turn(ChatSession(), agent, "hello")
    names = [span["name"] for span in capfire.exporter.exported_spans_as_dict()]
    assert "invoke_agent chef" in names
    assert "execute_tool say" in names
    assert names.count("chat chef-script") == 2
