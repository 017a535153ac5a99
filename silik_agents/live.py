"""A chat turn shown in its cell: its parts (text, tool calls) streamed live in
notebooks and placed once each when final, plus the output of code the agent
runs in other kernels under the call that ran it."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_ai.agent import AbstractAgent
from pydantic_ai.messages import FunctionToolResultEvent, PartDeltaEvent

from silik_agents.approvals import Approvals, Ask
from silik_agents.chat import ChatSession, TurnResult
from silik_agents.config import AgentSettings
from silik_agents.nested import NestedOutput
from silik_agents.render import Block, ThinkingMode, TurnView
from silik_agents.toolset import input_asker, output_sink
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
    asker: str | None = None,
    **run_options: Any,
) -> tuple[TurnResult, TurnView]:
    """One turn of the conversation shown live in its cell, the calls it defers
    answered by the config or by asking the user (``ask`` None: the frontend cannot
    answer; ``asker``: this kernel's path when another agent asked for the turn).
    ``run_options`` go to the agent's run (history, model, toolsets, deps)."""
    turn = LiveTurn(publish, render, thinking=settings.thinking, live=settings.live)
    approvals = Approvals(settings.approvals, ask, turn.show_waiting, asker=asker)
    asker_token = input_asker.set(ask)  # ask_agent passes its delegate's prompts up
    try:
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
    finally:
        input_asker.reset(asker_token)
    return result, turn.view


class LiveDisplay:
    """One display updated in place, at most every ``interval`` seconds.

    Nothing is shown until there is something to show; with ``live=False`` it
    shows nothing at all (the turn's parts are then only placed, once each).
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

    def clear(self) -> None:
        """Cancel a scheduled update, and empty the display if it was shown: its
        content is then placed for good after it (an empty display shows nothing)."""
        self._cancel()
        if self.shown:
            self._send("update_display_data", {})

    def _flush(self) -> None:
        self._cancel()
        self._last = time.monotonic()
        self._send("update_display_data" if self.shown else "display_data", self._render())
        self.shown = True

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(self, msg_type: str, data: dict[str, str]) -> None:
        self._publish(msg_type, _display(data, self.display_id))


def _display(bundle: dict[str, str], display_id: str) -> dict[str, Any]:
    """A (update_)display_data's content."""
    return {"data": bundle, "metadata": {}, "transient": {"display_id": display_id}}


@dataclass(eq=False)
class PlacedPart:
    """Blocks of the turn shown as one display in their final place; ``bundle`` is
    kept while one of them may still change (a call whose code output is below it)."""

    blocks: list[Block]
    display_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    bundle: dict[str, str] | None = None


class LiveTurn:
    """What one chat cell shows while its turn runs.

    The turn is shown in parts, in order. A part is placed (one display_data with
    every mime type) once it is settled: text when the next block starts, a tool
    call when it has its result. What is not settled yet streams in a live display
    without text/plain, updated in place; when its content is placed, the live
    display is emptied. So frontends that ignore updates (jupyter console) print
    each part once, complete, and notebooks show each part once, live until final.
    A call whose code output or approval prompt must show is placed at once (below
    the text before it, above the output) and updated in place until it settles.

    ``render(view)`` makes the mime bundle of a part (the kernel's overridable
    ``render``); ``publish`` sends IOPub messages to the cell.
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
        self._render = render
        self._live = live
        self.view = TurnView(thinking=thinking)
        self._placed: set[Block] = set()
        self._changing: list[PlacedPart] = []
        self._placed_any = False
        self._tail = self._new_tail()
        self._output_header: str | None = None
        self._nested = NestedOutput(publish)

    async def run(self, turn: Awaitable[TurnResult]) -> TurnResult:
        """Await the turn with this cell as the place where kernel output shows;
        the cell ends with the answer, or with how the turn stopped."""
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
        self._end()
        return result

    def _stop(self, status: Literal["interrupted", "failed"]) -> None:
        self.view.status = status
        if self._placed_any or self._tail.shown or not self.view.is_empty:
            self._end()

    def _end(self) -> None:
        """Every part in its final place; the footer (how the turn ended) with the last."""
        self._tail.clear()
        self._update_changing()
        self._changing.clear()
        rest = self._unplaced()
        if rest or not self._placed_any or self.view.status != "done":
            self._place(rest, last=True)

    def on_event(self, event: Any) -> None:
        """An agent event: into the view, and onto the screen (deltas throttled)."""
        self.view.apply(event)
        self._refresh(force=not isinstance(event, PartDeltaEvent))
        if isinstance(event, FunctionToolResultEvent):
            flush_std_streams()  # what the tool printed shows up now, under its call

    def show_waiting(self, call_id: str | None, args: Any) -> None:
        """Before a prompt goes up: the call waiting for approval (None for a
        question) is shown as asking, with its arguments."""
        if call_id is not None:
            block = self.view.tool(call_id)
            if block is not None:
                block.status = "asking"
                block.args = args
        self._refresh(force=True)
        self._place_unsettled()

    def show_kernel_output(self, path: str, event: dict[str, Any]) -> None:
        """Output of code the agent runs, under the call that runs it and a header
        naming its kernel."""
        if self._unplaced():
            self._refresh(force=True)
            self._place_unsettled()
        msg_type, content = event.get("msg_type"), event.get("content") or {}
        if path != self._output_header:
            self._output_header = path
            self._publish("stream", {"name": "stdout", "text": f"── {path} ──\n"})
        if event.get("agent"):
            self._nested.show(str(msg_type), content)
        elif msg_type == "stream":
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

    # -- parts -------------------------------------------------------------------
    def _refresh(self, *, force: bool) -> None:
        """Place what settled, update placed parts that changed, stream the rest."""
        rest = self._unplaced()
        settled = self.view.settled_count(rest)
        if settled:
            self._place(rest[:settled])
        self._update_changing()
        if len(rest) > settled:
            self._tail.update(force=force)

    def _place_unsettled(self) -> None:
        """Show the unsettled blocks now, in place, updated as they change (live
        frontends only: elsewhere they are placed once they settle)."""
        rest = self._unplaced()
        if rest and self._live:
            self._place(rest, changing=True)

    def _place(self, blocks: list[Block], *, last: bool = False, changing: bool = False) -> None:
        self._tail.clear()
        self._tail = self._new_tail()
        part = PlacedPart(blocks)
        bundle = self._render(self.view.part(blocks, last=last))
        self._publish("display_data", _display(bundle, part.display_id))
        self._placed.update(blocks)
        self._placed_any = True
        self._output_header = None  # code output after this part names its kernel again
        if changing:
            part.bundle = bundle
            self._changing.append(part)

    def _update_changing(self) -> None:
        for part in list(self._changing):
            bundle = self._render(self.view.part(part.blocks, last=False))
            if bundle != part.bundle:
                part.bundle = bundle
                self._publish("update_display_data", _display(bundle, part.display_id))
            if self.view.settled_count(part.blocks) == len(part.blocks):
                self._changing.remove(part)

    def _unplaced(self) -> list[Block]:
        return [block for block in self.view.blocks if block not in self._placed]

    def _new_tail(self) -> LiveDisplay:
        return LiveDisplay(self._publish, self._live_bundle, live=self._live)

    def _live_bundle(self) -> dict[str, str]:
        """The unplaced blocks without text/plain: frontends that cannot update a
        display (they print text/plain at once) wait for the placed part."""
        bundle = self._render(self.view.part(self._unplaced(), last=False))
        return {mime: data for mime, data in bundle.items() if mime != "text/plain"}


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
