"""The commands' frontend in silik's cells, against a real python3 sub-kernel: a
one-line `run` cell starts as it arrives and ends with its kernel's reply and idle."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jupyter_client.session import Session
from wired_replies import wired_replies

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.kernel.base import error_reply, ok_reply
from silik_kernel.kernel.comms import CommRouter
from silik_kernel.kernel.connect import CellState, ConnectMode
from silik_kernel.kernel.frontend import CellFrontend
from silik_kernel.kernel.replies import CellEnd, Replies
from silik_kernel.manager import SilikManager

TIMEOUT = 30


@pytest.fixture
async def cell():
    with wired_replies("frontend") as w:
        manager = SilikManager()
        await manager.start("python3", ["k1"])
        connect = ConnectMode(manager)
        request = w.session.msg("execute_request", {"code": ""})
        comms = CommRouter(manager, w.replies, lambda: connect.kernel_id)

        async def no_stdin(content: dict[str, Any], parent: dict[str, Any]) -> str:
            return ""

        frontend = CellFrontend(
            manager, w.replies, comms, connect, CellState(), lambda: request, no_stdin
        )
        try:
            yield w.session, w.replies, frontend, w.shell, w.published
        finally:
            await manager.shutdown_all()


def _end(replies: Replies, session: Session) -> CellEnd:
    def reply_for(content: dict[str, Any]) -> dict[str, Any] | None:
        return ok_reply(1) if content["status"] == "ok" else error_reply(1, content)

    return CellEnd(
        replies,
        [b"client"],
        session.msg("execute_request", {"code": ""}),
        {},
        reply_for=reply_for,
        finish_metadata=lambda request, metadata, reply: metadata,
        before_send=lambda request, reply: None,
    )


@pytest.mark.parametrize("code, status", [("print('hi')", "ok"), ("1/0", "error")])
async def test_a_one_line_run_cell_ends_with_its_run(cell, code, status):
    session, replies, frontend, shell_in, published = cell
    frontend.plan_arriving({"code": f"run {code!r} k1.py"}, BUILTIN_COMMANDS, start=True)
    assert frontend.early is not None  # sent as the cell arrived
    assert frontend.state.running == ["~/k1.py"]
    end = frontend.cell_end = _end(replies, session)
    plan = frontend.take_plan(f"run {code!r} k1.py")
    assert plan is not None and plan[0].plain_run == ("k1.py", code)
    content = await asyncio.wait_for(frontend.relay("k1.py", code), TIMEOUT)
    assert content["status"] == status
    # The cell's reply left from the run's own callbacks, before relay returned.
    assert end.sent is not None and end.sent["status"] == status
    assert shell_in.poll(0)
    assert any(b'"idle"' in frames[-1] for frames in published)
    assert frontend.early is None and frontend.state.running == []


async def test_a_cell_of_two_lines_does_not_start_early(cell):
    session, replies, frontend, *_ = cell
    frontend.plan_arriving({"code": "run 'x = 1' k1.py\nls"}, BUILTIN_COMMANDS, start=True)
    assert frontend.early is None
    end = frontend.cell_end = _end(replies, session)
    await asyncio.wait_for(frontend.relay("k1.py", "x = 1"), TIMEOUT)
    assert end.sent is None  # the general path ends this cell, after its last line


async def test_a_run_that_was_not_taken_over_is_dropped(cell):
    _, _, frontend, *_ = cell
    frontend.plan_arriving({"code": "run 'x = 1' k1.py"}, BUILTIN_COMMANDS, start=True)
    assert frontend.early is not None
    frontend.drop_early()  # the cell ended before its `run` took the request over
    assert frontend.early is None and frontend.state.running == []
