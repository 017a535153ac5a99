"""The live display of a chat turn: update throttling, and what one turn publishes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents_fixtures.chef import make_agent
from pydantic_ai import models

from silik_agents.chat import ChatSession
from silik_agents.config import AgentSettings
from silik_agents.live import LiveDisplay, LiveTurn, run_live_turn
from silik_agents.render import TurnView
from silik_agents.toolset import output_sink

models.ALLOW_MODEL_REQUESTS = False


class Published(list):
    """What was published, as (msg_type, content) pairs."""

    def __call__(self, msg_type: str, content: dict[str, Any]) -> None:
        self.append((msg_type, content))

    def types(self) -> list[str]:
        return [t for t, _ in self]


def counting_render() -> tuple[Any, list[int]]:
    calls: list[int] = []

    def render() -> dict[str, str]:
        calls.append(len(calls))
        return {"text/plain": f"state {len(calls)}"}

    return render, calls


async def test_first_update_shows_at_once_and_later_ones_are_throttled():
    published = Published()
    render, calls = counting_render()
    display = LiveDisplay(published, render, interval=0.2)
    display.update()
    assert published.types() == ["display_data"] and display.shown
    display.update()  # within the interval: scheduled, not sent
    display.update()  # already scheduled: nothing more
    assert len(published) == 1 and len(calls) == 1
    await asyncio.sleep(0.3)
    assert published.types() == ["display_data", "update_display_data"]
    assert published[-1][1]["data"] == {"text/plain": "state 2"}
    ids = {content["transient"]["display_id"] for _, content in published}
    assert ids == {display.display_id}


async def test_forced_update_flushes_now_and_cancels_the_scheduled_one():
    published = Published()
    render, calls = counting_render()
    display = LiveDisplay(published, render, interval=0.2)
    display.update()
    display.update()  # scheduled
    display.update(force=True)
    assert published.types() == ["display_data", "update_display_data"]
    await asyncio.sleep(0.3)
    assert len(published) == 2  # the scheduled flush was cancelled


async def test_clear_cancels_a_scheduled_update_and_empties_a_shown_display():
    published = Published()
    render, _ = counting_render()
    display = LiveDisplay(published, render, interval=0.2)
    display.clear()  # never shown: nothing to empty
    assert published == []
    display.update()
    display.update()  # scheduled
    display.clear()
    await asyncio.sleep(0.3)
    assert published.types() == ["display_data", "update_display_data"]
    assert published[-1][1]["data"] == {}


async def test_not_live_shows_nothing():
    published = Published()
    render, _ = counting_render()
    display = LiveDisplay(published, render, live=False)
    for _ in range(5):
        display.update(force=True)
    display.clear()
    assert published == []


def test_kernel_output_shows_under_a_header_per_kernel():
    published = Published()
    turn = LiveTurn(published, TurnView.bundle, thinking="collapsed", live=True)
    stream = {"msg_type": "stream", "content": {"name": "stdout", "text": "42\n"}}
    turn.show_kernel_output("~/a.py", stream)
    turn.show_kernel_output("~/a.py", stream)
    shown = {"msg_type": "execute_result", "content": {"data": {"text/plain": "43"}}}
    turn.show_kernel_output("~/b.py", shown)
    error = {"msg_type": "error", "content": {"traceback": ["\x1b[31mZeroDivisionError\x1b[0m"]}}
    turn.show_kernel_output("~/b.py", error)
    assert published == [
        ("stream", {"name": "stdout", "text": "── ~/a.py ──\n"}),
        ("stream", {"name": "stdout", "text": "42\n"}),
        ("stream", {"name": "stdout", "text": "42\n"}),
        ("stream", {"name": "stdout", "text": "── ~/b.py ──\n"}),
        ("display_data", {"data": {"text/plain": "43"}, "metadata": {}, "transient": {}}),
        ("stream", {"name": "stderr", "text": "ZeroDivisionError\n"}),
    ]


def placed(published: Published) -> list[str]:
    """The text/plain of each display placed for good (what jupyter console prints)."""
    return [
        c["data"]["text/plain"]
        for t, c in published
        if t == "display_data" and "text/plain" in c["data"]
    ]


def notebook_view(published: Published) -> list[str]:
    """What a notebook shows at the end: outputs in order, displays updated in place."""
    outputs: list[Any] = []
    for msg_type, content in published:
        if msg_type == "stream":
            outputs.append(content["text"])
        elif msg_type == "display_data":
            outputs.append(content)
        elif msg_type == "update_display_data":
            display_id = content["transient"]["display_id"]
            for i, out in enumerate(outputs):
                if isinstance(out, dict) and out["transient"].get("display_id") == display_id:
                    outputs[i] = {**out, "data": content["data"]}
    texts = [o if isinstance(o, str) else o["data"].get("text/plain") for o in outputs]
    return [t for t in texts if t is not None]


async def run_turn(prompt: str, **settings: Any) -> tuple[Published, TurnView]:
    published = Published()
    _, view = await run_live_turn(
        ChatSession(),
        make_agent(),
        prompt,
        settings=AgentSettings(**settings),
        publish=published,
        render=TurnView.bundle,
        ask=None,
    )
    return published, view


async def test_a_turn_streams_live_and_places_each_part_once():
    published, view = await run_turn("add 2 and 3")
    assert view.answer == "The tool said: 5"
    live = [c["data"] for t, c in published if "text/plain" not in c["data"]]
    assert len([data for data in live if data]) >= 2  # streamed, markdown only
    assert placed(published) == ["[tool] add(a=2, b=3) -> 5", "The tool said: 5"]
    assert notebook_view(published) == placed(published)


async def test_not_live_places_each_part_once_and_updates_nothing():
    published, _ = await run_turn("add 2 and 3", live=False)
    assert published.types() == ["display_data", "display_data"]
    assert placed(published) == ["[tool] add(a=2, b=3) -> 5", "The tool said: 5"]


def test_code_output_shows_under_the_call_that_ran_it():
    from pydantic_ai.messages import (
        FunctionToolCallEvent,
        FunctionToolResultEvent,
        ToolCallPart,
        ToolReturnPart,
    )

    published = Published()
    turn = LiveTurn(published, TurnView.bundle, thinking="collapsed", live=True)
    call = ToolCallPart("run_code", {"path": "~/a.py", "code": "print(42)"}, tool_call_id="c1")
    turn.on_event(FunctionToolCallEvent(call))
    turn.show_kernel_output("~/a.py", {"msg_type": "stream", "content": {"text": "42\n"}})
    result = {"path": "~/a.py", "status": "ok", "stdout": "42\n", "stderr": "", "results": []}
    turn.on_event(FunctionToolResultEvent(ToolReturnPart("run_code", result, tool_call_id="c1")))
    # console: the call as it started, then its output
    assert placed(published) == ["[tool] run_code(path='~/a.py', code='print(42)') running…"]
    # notebook: the call with its result, then its output
    assert notebook_view(published) == [
        "[tool] run_code(path='~/a.py', code='print(42)') -> ok: 42",
        "── ~/a.py ──\n",
        "42\n",
    ]


async def test_the_sink_is_set_only_while_the_turn_runs():
    published = Published()
    turn = LiveTurn(published, TurnView.bundle, thinking="collapsed", live=True)
    seen = []

    async def fake_turn() -> Any:
        seen.append(output_sink.get())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await turn.run(fake_turn())
    assert seen == [turn.show_kernel_output]
    assert output_sink.get() is None
    assert turn.view.status == "failed"
    assert published == []  # nothing to show: the failure is the cell's error


async def test_an_interrupted_turn_says_so_in_its_display():
    published = Published()
    chat = ChatSession()
    task = asyncio.ensure_future(
        run_live_turn(
            chat,
            make_agent(),
            "slow answer",
            settings=AgentSettings(),
            publish=published,
            render=TurnView.bundle,
            ask=None,
        )
    )
    for _ in range(200):  # until tokens stream
        if published:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert "interrupted" in placed(published)[-1]
    assert notebook_view(published)[-1] == placed(published)[-1]
    assert chat.messages == []


async def test_a_waiting_approval_is_shown_before_the_prompt_goes_up():
    published = Published()
    prompts: list[str] = []

    async def ask(prompt: str) -> str:
        prompts.append(prompt)
        shown = published[-1][1]["data"]["text/plain"]
        assert "[tool] run_code(code='1+1', kernel='k1.py') waiting for your approval" in shown
        return "y"

    _, view = await run_live_turn(
        ChatSession(),
        make_agent(),
        "run code",
        settings=AgentSettings(),
        publish=published,
        render=TurnView.bundle,
        ask=ask,
    )
    assert len(prompts) == 1 and prompts[0].endswith("Allow run_code on k1.py? [y/N] ")
    assert view.answer == "The tool said: ran 1+1 on k1.py"
