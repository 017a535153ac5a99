"""Help while typing: completion, inspection, is-it-complete and history.

In connect mode the connected kernel answers (silik stands in when it cannot);
in command mode silik answers about its commands and cells.
"""

from __future__ import annotations

from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.parsing import UnterminatedQuote, split_lines
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import SilikError
from silik_kernel.kernel.base import CellHistory, complete_reply
from silik_kernel.kernel.connect import ESCAPES, ConnectMode, is_escape

NOT_FOUND = {"status": "ok", "found": False, "data": {}, "metadata": {}}


class TypingAssist:
    """Answers a frontend's complete, inspect, is_complete and history requests."""

    def __init__(
        self,
        registry: CommandRegistry,
        context: Context,
        connect: ConnectMode,
        history: CellHistory,
    ) -> None:
        self.registry = registry
        self.context = context
        self.connect = connect
        self.cells = history

    async def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        connected = self.connect.active
        if connected and not code.lstrip().startswith("/cmd"):
            content = {"code": code, "cursor_pos": cursor_pos}
            return await self.connect.proxy("complete_request", content) or complete_reply(
                cursor_pos
            )
        line = code[:cursor_pos].rsplit("\n", 1)[-1]
        if connected and line.startswith("/cmd "):
            line = line[len("/cmd ") :]
        return complete_reply(cursor_pos, *self.registry.complete(self.context, line))

    async def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        if self.connect.active:
            content = {"code": code, "cursor_pos": cursor_pos, "detail_level": detail_level}
            return await self.connect.proxy("inspect_request", content) or dict(NOT_FOUND)
        line = code[:cursor_pos].rsplit("\n", 1)[-1] + code[cursor_pos:].split("\n", 1)[0]
        words = line.split()
        try:
            cmd = self.registry.get(words[0] if words else "")
        except SilikError:
            return dict(NOT_FOUND)
        return {"status": "ok", "found": True, "data": {"text/plain": cmd.help()}, "metadata": {}}

    async def is_complete(self, code: str) -> dict[str, Any]:
        if self.connect.active and not is_escape(code.strip()):
            found = await self.connect.proxy("is_complete_request", {"code": code})
            return found or {"status": "unknown"}
        try:
            lines = split_lines(code)
        except UnterminatedQuote:
            return {"status": "incomplete", "indent": ""}
        if code.endswith("\\\n") or code.endswith("\\"):
            return {"status": "incomplete", "indent": ""}
        for line in lines:
            head = line.words[0]
            if head.startswith(">") or head in ESCAPES:
                continue
            try:
                self.registry.get(head).parse(line.words[1:])
            except SilikError:
                return {"status": "invalid"}
        return {"status": "complete"}

    async def history(
        self,
        access: str,
        output: bool,
        raw: bool,
        session: int | None,
        query: dict[str, Any],
    ) -> dict[str, Any]:
        """The connected kernel's history in connect mode (silik's own cells if it
        cannot answer), silik's cells otherwise."""
        if self.connect.active:
            asked = {"hist_access_type": access, "output": output, "raw": raw}
            asked |= {k: v for k, v in {"session": session, **query}.items() if v is not None}
            found = await self.connect.proxy("history_request", asked)
            if found is not None:
                return found
        return self.cells.reply(access, output, **query)
