"""What a tool gives back, in a form no agent framework owns."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
