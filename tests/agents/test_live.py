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


async def test_close_cancels_a_scheduled_update_and_shows_the_last_state():
    published = Published()
    render, _ = counting_render()
    display = LiveDisplay(published, render, interval=0.2)
    display.update()
    display.update()  # scheduled
    display.close(show=False)
    await asyncio.sleep(0.3)
    assert published.types() == ["display_data"]
    display.close(show=True)
    assert published.types() == ["display_data", "update_display_data"]


async def test_not_live_shows_the_turn_once_when_it_ends():
    published = Published()
    render, _ = counting_render()
    display = LiveDisplay(published, render, live=False)
    for _ in range(5):
        display.update(force=True)
    assert published == []
    display.close(show=True)
    assert published.types() == ["display_data"]


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


async def test_a_turn_streams_into_one_display_and_ends_with_the_answer():
    published = Published()
    result, view = await run_live_turn(
        ChatSession(),
        make_agent(),
        "tell me something",
        settings=AgentSettings(),
        publish=published,
        render=TurnView.bundle,
        ask=None,
    )
    assert result.output == view.answer == "You said: tell me something"
    assert published.types()[0] == "display_data"
    assert set(published.types()[1:]) == {"update_display_data"}
    assert published[-1][1]["data"]["text/plain"] == "You said: tell me something"


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
    assert "interrupted" in published[-1][1]["data"]["text/plain"]
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
