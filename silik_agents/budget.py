"""The budget of the turn being run, as the ask_agent tool sees it.

A minimal interface: the AgentKernel sets ``turn_budget`` for the duration of a
turn; ask_agent gives its delegate what is left and books what the delegate
spent.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol


class TurnBudget(Protocol):
    def remaining(self) -> dict[str, Any]:
        """The turn's limits minus what it and its delegates used so far (the
        ``limits`` shape: requests, total_tokens, tool_calls, cost; None: no limit)."""
        ...

    def add_delegated(self, path: str, usage: dict[str, Any]) -> None:
        """Book what a delegate spent."""
        ...


turn_budget: ContextVar[TurnBudget | None] = ContextVar("silik_turn_budget", default=None)
