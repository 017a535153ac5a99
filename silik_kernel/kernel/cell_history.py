"""A kernel's own cells, as history requests read them, kept within bounds.

A session may run for weeks and a cell may hold megabytes of pasted data: the
history keeps at most ``max_cells`` cells and ``max_chars`` characters in all,
dropping the oldest first, and stores a cell (or an output) longer than
``max_cell_chars`` cut short, with a line saying so.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def truncated(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters and a line saying what was cut."""
    if len(text) <= limit:
        return text
    return (
        text[:limit] + f"\n[... truncated in the kernel's history: {len(text):,} characters,"
        f" the first {limit:,} kept]"
    )


@dataclass
class CellHistory:
    """A kernel's own cells, answered with IPython's history semantics (one
    session, numbered by cell): what a frontend's up-arrow and ``%history`` read."""

    max_cells: int = 10_000
    #: characters kept of one cell's source (or output)
    max_cell_chars: int = 100_000
    #: characters kept in all, sources and outputs
    max_chars: int = 4_000_000
    #: (session, execution_count, source), oldest first
    cells: deque[tuple[int, int, str]] = field(default_factory=deque)
    #: a cell's output by execution count (agent kernels keep each answer)
    outputs: dict[int, str] = field(default_factory=dict)
    session: int = 1
    #: characters held in ``cells`` and ``outputs``
    stored_chars: int = 0

    def add(self, execution_count: int, source: str) -> None:
        source = truncated(source, self.max_cell_chars)
        self.cells.append((self.session, execution_count, source))
        self.stored_chars += len(source)
        self._bound()

    def add_output(self, execution_count: int, text: str) -> None:
        """The output of a kept cell, shown by a history request with ``output``."""
        text = truncated(text, self.max_cell_chars)
        self.stored_chars += len(text) - len(self.outputs.get(execution_count, ""))
        self.outputs[execution_count] = text
        self._bound()

    def _bound(self) -> None:
        """Drop the oldest cells (and their outputs) until within the limits."""
        while self.cells and (
            len(self.cells) > self.max_cells or self.stored_chars > self.max_chars
        ):
            _, count, source = self.cells.popleft()
            # (counts are unique where outputs are kept: agent kernels)
            self.stored_chars -= len(source) + len(self.outputs.pop(count, ""))

    def select(
        self,
        access: str,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> list[tuple[int, int, str]]:
        items = list(self.cells)
        if access == "range":
            first = start or 0
            return [h for h in items if h[1] >= first and (stop is None or h[1] < stop)]
        if access == "search":
            items = [h for h in items if fnmatch.fnmatchcase(h[2], pattern or "*")]
        if unique:
            latest = {h[2]: h for h in items}  # keeps the last occurrence of each source
            items = [h for h in items if latest[h[2]] is h]
        if access == "tail" or n:
            items = items[-(n or 10) :]
        return items

    def reply(
        self,
        access: str,
        output: bool,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
        outputs: Mapping[int, Any] | None = None,
    ) -> dict[str, Any]:
        """A history_reply's content; with ``output``, each input with its output
        (from ``outputs`` by execution count, else the kept ones; None where there
        is none)."""
        items: list[Any] = self.select(access, start, stop, n, pattern, unique)
        if output:
            found = self.outputs if outputs is None else outputs
            items = [(s, c, (src, found.get(c))) for s, c, src in items]
        return {"status": "ok", "history": items}
