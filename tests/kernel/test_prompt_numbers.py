"""One execution count for the silik session, in connect mode and out of it.

A frontend numbers its prompts from execute_input, execute_result and
execute_reply. Each cell silik answers (a command, a pass-through cell, a
`/cmd` cell, a `run` that shows a result) carries silik's next count, whatever
the sub-kernel's own count is; the sub-kernel's goes in the metadata.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from conftest import TIMEOUT, validate_message

SUB_COUNT = "silik_kernel_execution_count"  # metadata: the sub-kernel's own count


def cell_counts(k, code: str) -> dict[str, Any]:
    """Run one cell; the counts its execute_input, execute_result, error and reply show."""
    msg_id = k.kc.execute(code)
    deadline = time.monotonic() + TIMEOUT
    seen: dict[str, Any] = {"code": code}
    while True:
        assert time.monotonic() < deadline, f"{code!r}: no idle in {TIMEOUT} s: {seen}"
        try:
            msg = k.kc.get_iopub_msg(timeout=0.1)
        except Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        validate_message(msg)
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            break
        if kind in ("execute_input", "execute_result", "error"):
            seen[kind] = msg["content"].get("execution_count")
            seen[kind + " metadata"] = msg["metadata"].get(SUB_COUNT)
    reply = k.shell_reply(msg_id, deadline - time.monotonic())
    seen["reply"] = reply["content"]["execution_count"]
    seen["reply metadata"] = reply["metadata"].get(SUB_COUNT)
    return seen


def test_counts_increase_by_one_per_cell_in_and_out_of_connect_mode(silik):
    k = silik
    k.ok("new python3 -l k1")
    cells = [
        "pwd",
        "run '6 * 7' k1.py",  # one-line run: its result is this cell's
        "run 'x = 1' k1.py\nrun 'x + 1' k1.py",  # the general path
        "> k1.py",
        "y = 19",  # pass-through
        "y",  # pass-through, with a result
        "1/0",  # pass-through, with an error
        "/cmd run 'y + 1' k1.py",  # through silik, in connect mode
        "y + 2",
        "/cmd",
        "tree",
        "> k1.py",
        "y + 3",
    ]
    first = k.ok("pwd").content["execution_count"]
    for n, code in enumerate(cells, start=first + 1):
        seen = cell_counts(k, code)
        assert seen["execute_input"] == n, seen
        assert seen["reply"] == n, seen
        if "execute_result" in seen:
            assert seen["execute_result"] == n, seen
        if seen.get("error") is not None:
            assert seen["error"] == n, seen
        if code in ("y", "y + 2", "y + 3"):
            # the sub-kernel's own count, for who needs it
            assert isinstance(seen["reply metadata"], int), seen
            assert seen["execute_result metadata"] == seen["reply metadata"], seen
    k.execute("<")
