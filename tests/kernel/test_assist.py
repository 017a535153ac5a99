"""Help while typing, in command mode: silik answers about its own commands and cells."""

from __future__ import annotations

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.context import Context
from silik_kernel.commands.runner import TextFrontend
from silik_kernel.kernel.assist import TypingAssist
from silik_kernel.kernel.base import CellHistory
from silik_kernel.kernel.connect import ConnectMode
from silik_kernel.manager import SilikManager


def _assist() -> TypingAssist:
    manager = SilikManager()
    history = CellHistory()
    history.add(1, "ls")
    history.add(2, "tree")
    context = Context(manager, TextFrontend(manager), BUILTIN_COMMANDS)
    return TypingAssist(BUILTIN_COMMANDS, context, ConnectMode(manager), history)


async def test_complete_inspect_and_is_complete_read_the_declarations():
    assist = _assist()
    reply = await assist.complete("tr", 2)
    assert "tree" in reply["matches"] and reply["cursor_start"] == 0
    found = await assist.inspect("run", 1, 0)
    assert found["found"] and "run" in found["data"]["text/plain"]
    assert (await assist.inspect("nosuch", 2, 0))["found"] is False
    assert (await assist.is_complete('run "x = 1')) == {"status": "incomplete", "indent": ""}
    assert (await assist.is_complete("run")) == {"status": "invalid"}
    assert (await assist.is_complete('run "x" k1.py')) == {"status": "complete"}


async def test_history_is_silik_cells_when_not_connected():
    assist = _assist()
    query = {"start": None, "stop": None, "n": 1, "pattern": None, "unique": False}
    reply = await assist.history("tail", False, True, None, query)
    assert reply == {"status": "ok", "history": [(1, 2, "tree")]}
