"""Output routing: every message lands in the cell that caused it, even when it is late."""

from __future__ import annotations

import time
from collections import defaultdict
from queue import Empty

from conftest import validate_message

CELLS = 200

# Prints now, and again from a thread ~50 ms later, while the next cell already runs.
# The thread carries the cell's context, so ipykernel attributes its output to the
# cell that started it (a bare thread's output goes to whatever cell runs last).
CODE = """\
import contextvars, threading, time
print("now {i}")
def later():
    time.sleep(0.05)
    print("late {i}")
threading.Thread(target=contextvars.copy_context().run, args=(later,)).start()
"""


def test_late_output_lands_in_the_cell_that_caused_it(silik):
    silik.ok("new python3 -l r")
    kc = silik.kc
    streams: dict[str, list[str]] = defaultdict(list)
    idle: set[str] = set()
    replies: dict[str, dict] = {}

    def drain(timeout: float) -> None:
        try:
            msg = kc.get_iopub_msg(timeout=timeout)
        except Empty:
            return
        validate_message(msg)
        parent = msg["parent_header"].get("msg_id", "")
        if msg["msg_type"] == "stream":
            streams[parent].append(msg["content"]["text"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle.add(parent)

    t0 = time.monotonic()
    ids = []
    for i in range(CELLS):
        msg_id = kc.execute(f"run '{CODE.format(i=i)}' r.py")
        ids.append(msg_id)
        deadline = time.monotonic() + 10
        while msg_id not in replies:  # the next cell goes as soon as this one replies
            assert time.monotonic() < deadline, f"no reply to cell {i}"
            try:
                reply = kc.get_shell_msg(timeout=0.005)
                validate_message(reply)
                replies[reply["parent_header"]["msg_id"]] = reply
            except Empty:
                pass
            drain(0)

    def complete() -> bool:
        return idle >= set(ids) and all(len(streams[m]) >= 2 for m in ids)

    deadline = time.monotonic() + 10
    while not complete() and time.monotonic() < deadline:
        drain(0.05)
    drain(0.3)  # anything duplicated or misrouted arrives meanwhile
    took = time.monotonic() - t0

    assert all(replies[m]["content"]["status"] == "ok" for m in ids)
    for i, msg_id in enumerate(ids):
        assert "".join(streams[msg_id]) == f"now {i}\nlate {i}\n", f"cell {i}"
    stray = {p: t for p, t in streams.items() if p not in set(ids)}
    assert not stray, f"output outside the cells: {stray}"
    assert took < 30, f"{CELLS} cells took {took:.1f} s"
    silik.ok("stop r.py")
