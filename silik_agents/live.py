"""A chat turn shown live in its cell: one display updated in place as the
answer streams, plus the output of code the agent runs in other kernels."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic_ai.agent import AbstractAgent
from pydantic_ai.messages import FunctionToolResultEvent, PartDeltaEvent

from silik_agents.approvals import Approvals, Ask
from silik_agents.chat import ChatSession, TurnResult
from silik_agents.config import AgentSettings
from silik_agents.render import ThinkingMode, TurnView
from silik_agents.toolset import output_sink
from silik_kernel.protocol.messages import strip_ansi

#: Seconds between two in-place updates of a streaming answer.
UPDATE_INTERVAL = 0.05

Publish = Callable[[str, dict[str, Any]], None]


async def run_live_turn(
    chat: ChatSession,
    agent: AbstractAgent[Any, Any],
    prompt: str,
    *,
    settings: AgentSettings,
    publish: Publish,
    render: Callable[[TurnView], dict[str, str]],
    ask: Ask | None,
    **run_options: Any,
) -> tuple[TurnResult, TurnView]:
    """One turn of the conversation shown live in its cell, the calls it defers
    answered by the config or by asking the user (``ask`` None: the frontend cannot
    answer). ``run_options`` go to the agent's run (history, model, toolsets, deps)."""
    turn = LiveTurn(publish, render, thinking=settings.thinking, live=settings.live)
    approvals = Approvals(settings.approvals, ask, turn.show_waiting)
    result = await turn.run(
        chat.run_turn(
            agent,
            prompt,
            on_event=turn.on_event,
            resolve_deferred=approvals.resolve,
            model_settings=settings.model_settings or None,
            instructions=settings.instructions,
            **run_options,
        )
    )
    return result, turn.view


class LiveDisplay:
    """One display updated in place, at most every ``interval`` seconds.

    Nothing is shown until there is something to show; ``live=False`` shows the
    turn once, when it ends (for frontends that do not render updates).
    """

    def __init__(
        self,
        publish: Publish,
        render: Callable[[], dict[str, str]],
        *,
        live: bool = True,
        interval: float = UPDATE_INTERVAL,
    ) -> None:
        self._publish = publish
        self._render = render
        self._live = live
        self._interval = interval
        self.display_id = uuid.uuid4().hex
        self.shown = False
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def update(self, *, force: bool = False) -> None:
        if not self._live:
            return
        if self._timer is not None and not force:
            return  # a flush is already scheduled
        wait = self._interval - (time.monotonic() - self._last)
        if force or wait <= 0 or not self.shown:
            self._flush()
            return
        self._timer = asyncio.get_running_loop().call_later(wait, self._flush)

    def close(self, *, show: bool) -> None:
        """The final update (or first and only one, when not live)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if show:
            self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last = time.monotonic()
        content = {
            "data": self._render(),
            "metadata": {},
            "transient": {"display_id": self.display_id},
        }
        self._publish("update_display_data" if self.shown else "display_data", content)
        self.shown = True


class LiveTurn:
    """What one chat cell shows while its turn runs.

    ``render(view)`` makes the mime bundle of the answer (the kernel's
    overridable ``render``); ``publish`` sends IOPub messages to the cell.
    """

    def __init__(
        self,
        publish: Publish,
        render: Callable[[TurnView], dict[str, str]],
        *,
        thinking: ThinkingMode,
        live: bool,
    ) -> None:
        self._publish = publish
        self.view = TurnView(thinking=thinking)
        self.display = LiveDisplay(publish, lambda: render(self.view), live=live)
        self._output_header: str | None = None

    async def run(self, turn: Awaitable[TurnResult]) -> TurnResult:
        """Await the turn with this cell as the place where kernel output shows;
        the display ends with the answer, or with how the turn stopped."""
        sink_token = output_sink.set(self.show_kernel_output)
        try:
            result = await turn
        except asyncio.CancelledError:
            self._stop("interrupted")
            raise
        except Exception:
            self._stop("failed")
            raise
        finally:
            output_sink.reset(sink_token)
        self.view.finish(result.output)
        self.display.close(show=True)
        return result

    def _stop(self, status: Literal["interrupted", "failed"]) -> None:
        self.view.status = status
        self.display.close(show=self.display.shown or not self.view.is_empty)

    def on_event(self, event: Any) -> None:
        """An agent event: into the view, and onto the screen (deltas throttled)."""
        self.view.apply(event)
        self.display.update(force=not isinstance(event, PartDeltaEvent))
        if isinstance(event, FunctionToolResultEvent):
            flush_std_streams()  # what the tool printed shows up now, not at the end

    def show_waiting(self, call_id: str | None, args: Any) -> None:
        """Before a prompt goes up: the call waiting for approval (None for a
        question) is shown as asking, with its arguments."""
        if call_id is not None:
            block = self.view.tool(call_id)
            if block is not None:
                block.status = "asking"
                block.args = args
        self.display.update(force=True)

    def show_kernel_output(self, path: str, event: dict[str, Any]) -> None:
        """Output of code the agent runs, under a header naming its kernel."""
        msg_type, content = event.get("msg_type"), event.get("content") or {}
        if path != self._output_header:
            self._output_header = path
            self._publish("stream", {"name": "stdout", "text": f"── {path} ──\n"})
        if msg_type == "stream":
            self._publish(
                "stream", {"name": content.get("name", "stdout"), "text": content.get("text", "")}
            )
        elif msg_type in ("display_data", "execute_result"):
            self._publish(
                "display_data",
                {
                    "data": content.get("data", {}),
                    "metadata": content.get("metadata", {}),
                    "transient": {},
                },
            )
        elif msg_type == "error":
            text = strip_ansi("\n".join(content.get("traceback") or []))
            self._publish("stream", {"name": "stderr", "text": text + "\n"})


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
