"""What a tool gives back, in a form no agent framework owns."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


class ToolError(Exception):
    """A tool failed in a way the model should read and react to (a bad path, a
    refusal): each face turns it into its framework's failed tool result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Image:
    """An image a kernel produced (a plot), for the model to look at."""

    data: bytes
    mime: str


#: Called with (kernel path, output event) for every output of code a tool runs,
#: so the agent kernel can show it live in the chat cell.
output_sink: contextvars.ContextVar[Callable[[str, dict[str, Any]], None] | None] = (
    contextvars.ContextVar("silik_output_sink", default=None)
)
#: Asks the person at this cell (None: its frontend has no stdin), so an asked
#: agent's prompts reach the human at the top of the chain.
input_asker: contextvars.ContextVar[Callable[[str], Awaitable[str]] | None] = (
    contextvars.ContextVar("silik_input_asker", default=None)
)


class TurnBudget(Protocol):
    """The budget of the turn being run, as ask_agent sees it."""

    def remaining(self) -> dict[str, Any]:
        """What a delegate may spend: the turn's limits minus what it and its
        delegates used so far, one request kept for its answer (the ``limits``
        shape: requests, total_tokens, tool_calls, cost; None: no limit)."""
        ...

    def add_delegated(self, path: str, usage: dict[str, Any]) -> None:
        """Book what a delegate spent."""
        ...


#: Set by an agent kernel for the duration of a turn; ask_agent gives its delegate
#: what is left and books what the delegate spent.
turn_budget: contextvars.ContextVar[TurnBudget | None] = contextvars.ContextVar(
    "silik_turn_budget", default=None
)
