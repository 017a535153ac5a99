"""Connect mode's fast path (passthrough.py) with real kernels.

In connect mode an ordinary cell's execute_request goes to the sub-kernel as it
came, and the sub-kernel's own messages come back, re-signed with silik's key.
These tests look at what a frontend sees: stop_on_error for pipelined cells,
the sub-kernel's own status / execute_input / counts, late output, message
authentication, the iopub welcome and stdin.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

import pytest
import zmq
from conftest import TIMEOUT, KernelDriver, Result, plain_text_of, validate_message
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session


# -- helpers -----------------------------------------------------------------------
def check(msg: dict[str, Any]) -> None:
    """validate_message, except for what jupyter_kernel_test's schemas do not know:
    an aborted execute_reply (ipykernel sends status 'aborted', the schema wants
    'abort') and JEP 65's iopub_welcome."""
    if msg["msg_type"] == "execute_reply" and msg["content"].get("status") == "aborted":
        assert msg["content"] == {"status": "aborted"}, msg["content"]
        return
    if msg["msg_type"] == "iopub_welcome":
        return
    validate_message(msg)


def parent_id(msg: dict[str, Any]) -> str | None:
    return msg["parent_header"].get("msg_id")


def summary(msgs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Short form of messages, for assertion messages."""
    out = []
    for m in msgs:
        c = m["content"]
        detail = c.get("execution_state") or c.get("text") or c.get("status") or c.get("ename")
        out.append((m["msg_type"], (parent_id(m) or "")[:8], detail))
    return out


def drain_iopub(k, quiet: float = 0.3, limit: float = 5) -> list[dict[str, Any]]:
    """Read iopub until it has been quiet for ``quiet`` s (at most ``limit`` s)."""
    deadline = time.monotonic() + limit
    got = []
    while time.monotonic() < deadline:
        try:
            got.append(k.kc.get_iopub_msg(timeout=quiet))
        except Empty:
            break
    return got


def iopub_until_idle(k, msg_ids: list[str], timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """Every iopub message (any parent) in arrival order, until each of ``msg_ids`` went idle."""
    deadline = time.monotonic() + timeout
    waiting = set(msg_ids)
    seen: list[dict[str, Any]] = []
    while waiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no idle for {sorted(waiting)} in {timeout} s; got {summary(seen)}")
        try:
            msg = k.kc.get_iopub_msg(timeout=min(remaining, 0.1))
        except Empty:
            continue
        check(msg)
        seen.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            waiting.discard(parent_id(msg))
    return seen


def replies_for(k, msg_ids: list[str], timeout: float = TIMEOUT) -> dict[str, dict[str, Any]]:
    """The shell reply of each of ``msg_ids`` (others are dropped)."""
    deadline = time.monotonic() + timeout
    got: dict[str, dict[str, Any]] = {}
    while set(msg_ids) - set(got):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = sorted(set(msg_ids) - set(got))
            raise TimeoutError(f"no shell reply for {missing} in {timeout} s")
        try:
            msg = k.kc.get_shell_msg(timeout=min(remaining, 0.1))
        except Empty:
            continue
        check(msg)
        if parent_id(msg) in msg_ids:
            got[parent_id(msg)] = msg
    return got


def outputs_of(seen: list[dict[str, Any]], msg_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in seen
        if parent_id(m) == msg_id and m["msg_type"] not in ("status", "execute_input")
    ]


def run(k, code: str, **kw: Any) -> Result:
    """One cell: send, wait for its idle, then its reply (an aborted reply is accepted)."""
    msg_id = k.kc.execute(code, **kw)
    seen = iopub_until_idle(k, [msg_id])
    reply = replies_for(k, [msg_id])[msg_id]
    return Result(reply, outputs_of(seen, msg_id))


# -- fixtures ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def k1(shared_silik):
    """``~/k1.py`` on the shared silik."""
    shared_silik.ok("new python3 -l k1")
    yield shared_silik
    shared_silik.execute("<")
    shared_silik.execute("stop ~/k1.py")


@pytest.fixture
def k(k1):
    """The shared silik in connect mode on ``~/k1.py``; back to command mode after."""
    assert "connected to ~/k1.py" in k1.ok("> k1.py").stdout
    yield k1
    k1.execute("<")


def test_pipelined_run_cells_run_once_and_stop_at_an_error(k1):
    """Command mode: a one-line `run` cell's request leaves for the kernel as the cell
    arrives. Each still runs exactly once, and the cells queued behind a failed one
    are aborted without reaching the kernel."""
    assert k1.ok("run 'n = 0' k1.py").status == "ok"
    codes = ["run 'n += 1' k1.py"] * 5 + ["run '1/0' k1.py"] + ["run 'n += 100' k1.py"] * 3
    ids = [k1.kc.execute(code) for code in codes]  # all sent before the first finishes
    iopub_until_idle(k1, ids)
    replies = replies_for(k1, ids)
    statuses = [replies[msg_id]["content"]["status"] for msg_id in ids]
    assert statuses == ["ok"] * 5 + ["error"] + ["aborted"] * 3
    assert k1.ok("run 'print(n)' k1.py").stdout == "5\n"


RUN_CELLS = [  # (code run on the kernel, the outputs' text, the error's name)
    ("x = 1", [], None),
    ("print(1); print(2, flush=True); print(3)", ["1\n2\n3\n"], None),
    ("from IPython.display import display; display(7); 8", ["7", "8"], None),
    ("1/0", [], "ZeroDivisionError"),
    ("print('before'); raise KeyError('k')", ["before\n"], "KeyError"),
]


def test_a_one_line_run_cell_ends_with_its_kernels_messages(tmp_path):
    """Command mode: a one-line `run` cell's reply and idle leave from the callback that
    brings its kernel's idle (replies.CellEnd; tests/kernel/test_frontend.py checks that
    this path is the one taken). The frontend sees what the general path (a cell of two
    lines) shows: every output, the kernel's error as the cell's, one busy and one idle;
    and silik logs no error."""
    log = tmp_path / "silik.log"
    with open(log, "w") as err:
        k = KernelDriver("silik", stderr=err)
    try:
        k.ok("new python3 -l k1")
        for code, texts, ename in RUN_CELLS:
            replies = []
            for cell in (f"run {code!r} k1.py", f"run 'pass' k1.py\nrun {code!r} k1.py"):
                msg_id = k.kc.execute(cell)
                seen = [m for m in iopub_until_idle(k, [msg_id]) if parent_id(m) == msg_id]
                reply = replies_for(k, [msg_id])[msg_id]["content"]
                types = [m["msg_type"] for m in seen]
                assert types[:2] == ["status", "execute_input"], (cell, summary(seen))
                assert types[-1] == "status" and types.count("status") == 2, (cell, summary(seen))
                assert seen[1]["content"]["execution_count"] == reply["execution_count"]
                outputs = [m for m in seen if m["msg_type"] not in ("status", "execute_input")]
                shown = [plain_text_of(m) for m in outputs if m["msg_type"] != "error"]
                if outputs and outputs[0]["msg_type"] == "stream":  # lines may come in pieces
                    shown = ["".join(shown)]
                assert shown == texts, (cell, summary(seen))
                errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
                if ename is None:
                    assert errors == [] and reply["status"] == "ok", (cell, reply)
                    assert reply["payload"] == [] and reply["user_expressions"] == {}, reply
                else:
                    assert reply["status"] == "error", (cell, reply)
                    assert [e["ename"] for e in errors] == [ename], (cell, summary(seen))
                    assert (reply["ename"], reply["evalue"]) == (ename, errors[0]["evalue"])
                    assert reply["traceback"] == errors[0]["traceback"]
                replies.append({key: v for key, v in reply.items() if key != "execution_count"})
            if ename is None:
                assert replies[0] == replies[1], code
            else:
                assert [r["ename"] for r in replies] == [ename, ename], code
    finally:
        k.shutdown()
    assert "ERROR" not in log.read_text(), log.read_text()


# -- 1. stop_on_error with pipelined cells --------------------------------------------
def test_pipelined_cells_after_an_error_are_aborted(k):
    codes = ["raise ValueError('x')", "print('never')", "print('never either')"]
    ids = [k.kc.execute(code) for code in codes]  # all three at once, stop_on_error=True
    seen = iopub_until_idle(k, ids)
    replies = replies_for(k, ids)

    first = replies[ids[0]]["content"]
    assert first["status"] == "error", first
    assert first["ename"] == "ValueError"
    for msg_id, code in zip(ids[1:], codes[1:], strict=True):
        content = replies[msg_id]["content"]
        assert content["status"] == "aborted", f"{code!r} was not aborted: {content}"
        assert outputs_of(seen, msg_id) == [], f"{code!r} showed {summary(seen)}"
    streams = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    assert "never" not in streams

    # The next cell runs, and it is the sub-kernel's next count: the aborted cells
    # never reached it.
    res = run(k, "print('after')")
    assert res.status == "ok", res.content
    assert res.stdout == "after\n"
    assert res.content["execution_count"] == first["execution_count"] + 1


# -- 2. a cell sent right after a failed cell's idle is not aborted ------------------
def test_cell_sent_after_a_failed_cells_idle_runs(k):
    # 50 rounds, not 20: the race this looks for hit about 1 round in 10.
    for i in range(50):
        bad = run(k, "1/0")
        assert bad.status == "error", bad.content
        assert bad.content["ename"] == "ZeroDivisionError"
        good = run(k, f"print('ok', {i})")  # sent at once after the reply and idle
        assert good.status == "ok", f"round {i}: the next cell got {good.content}"
        assert good.stdout == f"ok {i}\n", f"round {i}: {summary(good.messages)}"


def test_requests_wait_behind_a_running_cell_in_order(k):
    """A pass-through cell has no task of its own, but it still holds the shell queue:
    what is sent while it runs is answered after it, in the order sent."""
    kc = k.kc
    slow = kc.execute("import time; time.sleep(0.4); print('slow')")
    time.sleep(0.1)  # the slow cell is running in the sub-kernel
    info = kc.kernel_info()
    quick = kc.execute("print('quick')")
    done = kc.execute("/cmd pwd")  # the general path, queued behind both
    order = []
    deadline = time.monotonic() + TIMEOUT
    while len(order) < 4:
        msg = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
        check(msg)
        order.append(parent_id(msg))
    assert order == [slow, info, quick, done]
    seen = iopub_until_idle(k, [slow, quick, done])
    starts = [parent_id(m) for m in seen if m["msg_type"] == "execute_input"]
    assert starts == [slow, quick, done]
    assert [m["content"]["text"] for m in outputs_of(seen, quick)] == ["quick\n"]
    # and the queue is free again: a cell sent now starts at once
    assert run(k, "print('after')").stdout == "after\n"


# -- 3. the frontend sees the sub-kernel's own messages -------------------------------
def test_frontend_sees_the_sub_kernels_messages(k):
    drain_iopub(k)
    counts = []
    cell_ids = []
    for code, shown in [("print('p')", "stream"), ("40 + 2", "execute_result"), ("q = 1", None)]:
        msg_id = k.kc.execute(code)
        cell_ids.append(msg_id)
        seen = iopub_until_idle(k, [msg_id])
        reply = replies_for(k, [msg_id])[msg_id]["content"]
        assert reply["status"] == "ok", reply
        strangers = [m for m in seen if parent_id(m) != msg_id]
        assert strangers == [], f"{code!r}: messages of another parent {summary(strangers)}"
        types = [m["msg_type"] for m in seen]
        assert types[0] == "status" and seen[0]["content"]["execution_state"] == "busy", summary(
            seen
        )
        assert types[1] == "execute_input", summary(seen)
        assert types[-1] == "status" and seen[-1]["content"]["execution_state"] == "idle"
        middle = types[2:-1]
        assert "status" not in middle and "execute_input" not in middle, summary(seen)
        assert middle == ([shown] if shown else []), summary(seen)
        executed = seen[1]["content"]
        assert executed["code"] == code
        assert executed["execution_count"] == reply["execution_count"], (executed, reply)
        if shown == "execute_result":
            assert seen[2]["content"]["execution_count"] == reply["execution_count"]
        counts.append(reply["execution_count"])
    assert counts == [counts[0], counts[0] + 1, counts[0] + 2], counts

    # Nothing more for these cells: exactly one busy and one idle each.
    extra = [m for m in drain_iopub(k, quiet=0.5) if parent_id(m) in cell_ids]
    assert extra == [], summary(extra)


# -- 4. output after its cell ended goes to that cell ---------------------------------
# A thread that runs in the cell's context (ipykernel routes a thread's output by
# the parent in its context; a bare threading.Thread on Python < 3.14 inherits no
# context and ipykernel itself gives its output to whatever cell runs then).
LATE_CELL = (
    "import contextvars, threading, time\n"
    "ctx = contextvars.copy_context()\n"
    "threading.Thread(target=lambda: ctx.run("
    "lambda: (time.sleep(0.5), print('late', flush=True)))).start()"
)


def test_late_output_keeps_the_first_cells_parent(k):
    drain_iopub(k)
    first = run(k, LATE_CELL)
    assert first.status == "ok", first.content
    assert first.stdout == "", "'late' came 0.5 s after the cell, not in it"
    first_id = first.reply["parent_header"]["msg_id"]

    second_id = k.kc.execute("time.sleep(1)")
    seen = iopub_until_idle(k, [second_id], timeout=15)
    assert replies_for(k, [second_id])[second_id]["content"]["status"] == "ok"
    late = [m for m in seen if m["msg_type"] == "stream" and "late" in m["content"]["text"]]
    if not late:  # not expected (0.5 s against 1 s), but allowed: still after its cell
        more = drain_iopub(k, quiet=2)
        late = [m for m in more if m["msg_type"] == "stream" and "late" in m["content"]["text"]]
        seen += more
    assert len(late) == 1, summary(seen)
    assert late[0]["content"] == {"name": "stdout", "text": "late\n"}
    assert parent_id(late[0]) == first_id, (
        f"'late' has parent {parent_id(late[0])}, the first cell is {first_id}, "
        f"the second {second_id}"
    )
    assert outputs_of(seen, second_id) == [], summary(seen)


# -- 5. shell messages are authenticated -----------------------------------------------
def test_forged_execute_request_is_ignored(k):
    info = k.km.get_connection_info(session=False)
    forged = BlockingKernelClient()
    forged.load_connection_info(info)
    forged.session.key = b"not-" + bytes(k.km.session.key)
    assert forged.session.key != k.km.session.key
    drain_iopub(k)
    forged.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        forged_id = forged.execute("x_forged = 1")
        answered = forged.shell_channel.socket.poll(2000)
        assert answered == 0, "silik answered an execute_request signed with another key"
    finally:
        forged.stop_channels()

    msg_id = k.kc.execute("print('x_forged' in globals())")
    seen = iopub_until_idle(k, [msg_id])
    reply = replies_for(k, [msg_id])[msg_id]
    res = Result(reply, outputs_of(seen, msg_id))
    assert res.status == "ok", res.content
    assert res.stdout == "False\n", "the forged cell ran on the sub-kernel"
    about_forged = [m for m in seen if parent_id(m) == forged_id]
    assert about_forged == [], f"silik published for the forged request: {summary(about_forged)}"


# -- 6. iopub_welcome (JEP 65) ----------------------------------------------------------
def welcome_on(url: str, topic: bytes, session: Session, timeout: float = 5) -> dict[str, Any]:
    """Subscribe a raw SUB socket to ``topic`` at ``url``; the first iopub_welcome it gets."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    try:
        sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(url)
        deadline = time.monotonic() + timeout
        got = []
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no iopub_welcome for {topic!r} within {timeout} s; got {got}"
            if not sub.poll(int(remaining * 1000) + 1):
                continue
            frames = sub.recv_multipart()
            idents, parts = session.feed_identities(frames)
            msg = session.deserialize(parts)  # checks silik's signature
            got.append(msg["header"]["msg_type"])
            if msg["header"]["msg_type"] == "iopub_welcome":
                msg["idents"] = idents
                return msg
    finally:
        sub.close()
        ctx.term()


def test_new_iopub_subscriber_gets_a_welcome():
    """As ipykernel 7: the XPUB socket reports a subscription it has not seen yet,
    so the new client here is the first to subscribe to b"" (a plain KernelDriver
    already is, and a second b"" subscription is not reported, by ipykernel either).
    """
    km = KernelManager(kernel_name="silik")
    km.start_kernel()
    kc = km.client()
    try:
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        kc.kernel_info()
        ready = kc.get_shell_msg(timeout=60)  # up: the welcome must now come in 5 s
        assert ready["msg_type"] == "kernel_info_reply"
        info = km.get_connection_info(session=False)
        if info["transport"] == "tcp":
            url = f"tcp://{info['ip']}:{info['iopub_port']}"
        else:
            url = f"ipc://{info['ip']}-{info['iopub_port']}"
        session = Session(key=info["key"], signature_scheme=info["signature_scheme"])

        welcome = welcome_on(url, b"", session)
        assert welcome["content"] == {"subscription": ""}
        assert welcome["parent_header"] == {}
        assert welcome["idents"] == []

        # A subscription to a topic prefix: welcomed under that topic (its first frame).
        welcome = welcome_on(url, b"kernel.", session)
        assert welcome["content"] == {"subscription": "kernel."}
        assert welcome["idents"] == [b"kernel."]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


# -- 7. stdin through a passthrough cell -----------------------------------------------
def test_input_through_a_passthrough_cell(k):
    msg_id = k.kc.execute("print('hello', input('name? '))", allow_stdin=True)
    request = k.kc.get_stdin_msg(timeout=TIMEOUT)
    validate_message(request)
    assert request["msg_type"] == "input_request"
    assert request["content"] == {"prompt": "name? ", "password": False}
    assert parent_id(request) == msg_id
    k.kc.input("ada")
    seen = iopub_until_idle(k, [msg_id])
    reply = replies_for(k, [msg_id])[msg_id]
    res = Result(reply, outputs_of(seen, msg_id))
    assert res.status == "ok", res.content
    assert res.stdout == "hello ada\n", summary(seen)


# -- 6. a frontend that is behind loses nothing -------------------------------------------
def test_a_frontend_that_reads_late_gets_every_line(silik):
    """A burst of output to a frontend that is not reading: ZMQ's default high-water
    mark (1,000 messages) would drop what does not fit in it and the socket buffers;
    silik keeps it (RELAY_HWM) and the frontend gets every line once it reads."""
    silik.ok("new python3 -l burst")
    assert "connected" in silik.ok("> burst.py").stdout
    context = zmq.Context()
    context.setsockopt(zmq.RCVHWM, 10)  # this frontend's own buffers: small
    context.setsockopt(zmq.RCVBUF, 4096)
    slow = BlockingKernelClient(context=context)
    slow.load_connection_info(silik.km.get_connection_info())
    slow.start_channels()
    try:
        slow.wait_for_ready(timeout=TIMEOUT)
        lines, width = 4000, 2000
        msg_id = slow.execute(f"for i in range({lines}): print(str(i).rjust({width}), flush=True)")
        # Not reading IOPub: only the reply, once the cell is over.
        deadline = time.monotonic() + 60
        while True:
            reply = slow.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok"
        time.sleep(0.5)
        text = []
        while True:
            try:
                msg = slow.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            except Empty:
                raise AssertionError(f"no idle: {len(text)} stream messages came") from None
            if parent_id(msg) != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            if msg["msg_type"] == "stream":
                text.append(msg["content"]["text"])
        got = "".join(text).splitlines()
        assert len(got) == lines, f"{lines - len(got)} lines lost"
        assert [int(line) for line in got] == list(range(lines))
    finally:
        slow.stop_channels()
        context.term()
    silik.execute("<")
