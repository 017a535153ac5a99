"""Malformed typing requests (complete, inspect, is_complete, history) and
execute requests without their code, sent
as raw signed frames, and what a kernel must do with them: answer each one
exactly once, with an error that names the field at fault.

Shared by the silik and agent kernel tests.
"""

from __future__ import annotations

import json
import time
from queue import Empty
from typing import Any

from conftest import validate_message

DELIM = b"<IDS|MSG>"

#: (msg_type, content, the field the error must name)
MALFORMED: list[tuple[str, Any, str]] = [
    ("complete_request", {}, "code"),
    ("complete_request", {"code": "ls"}, "cursor_pos"),
    ("complete_request", {"code": "ls", "cursor_pos": None}, "cursor_pos"),
    ("complete_request", {"code": 5, "cursor_pos": 1}, "code"),
    ("complete_request", {"code": "ls", "cursor_pos": "2"}, "cursor_pos"),
    ("complete_request", {"code": "ls", "cursor_pos": True}, "cursor_pos"),
    ("complete_request", [], "content"),
    ("execute_request", {}, "code"),
    ("execute_request", {"code": None, "silent": False}, "code"),
    ("execute_request", [], "content"),
    ("inspect_request", {"code": "ls"}, "cursor_pos"),
    ("inspect_request", {"code": "ls", "cursor_pos": 1, "detail_level": "x"}, "detail_level"),
    ("inspect_request", None, "content"),
    ("history_request", {}, "hist_access_type"),
    ("history_request", {"hist_access_type": "tail"}, "output"),
    (
        "history_request",
        {"hist_access_type": "bogus", "output": False, "raw": True},
        "hist_access_type",
    ),
    ("history_request", {"hist_access_type": "tail", "output": False, "raw": 1}, "raw"),
    ("history_request", {"hist_access_type": "tail", "output": False, "raw": True, "n": "x"}, "n"),
    (
        "history_request",
        {"hist_access_type": "search", "output": False, "raw": True, "pattern": 3},
        "pattern",
    ),
]
#: is_complete_reply has no error status in the spec: a malformed one is "unknown"
MALFORMED_IS_COMPLETE: list[Any] = [{}, {"code": None}, {"code": ["x"]}, "code"]


def send_raw(kc: Any, msg_type: str, content: bytes, header: bytes | None = None) -> str:
    """Send signed frames whose content (and header) are these bytes; the msg_id."""
    session = kc.session
    head = session.msg_header(msg_type)
    parts = [header or session.pack(head), b"{}", b"{}", content]
    kc.shell_channel.socket.send_multipart([DELIM, session.sign(parts), *parts])
    return head["msg_id"]


def send(kc: Any, msg_type: str, content: Any) -> str:
    return send_raw(kc, msg_type, json.dumps(content).encode())


def replies_to(
    kc: Any, msg_ids: list[str], timeout: float = 30, more: float = 0.0
) -> dict[str, list[dict]]:
    """Every shell reply to ``msg_ids`` (each validated) until each has one, then
    ``more`` seconds (a second reply would show)."""
    found: dict[str, list[dict]] = {m: [] for m in msg_ids}
    deadline = time.monotonic() + timeout
    grace: float | None = None
    while True:
        now = time.monotonic()
        if grace is None and all(found.values()):
            grace = now + more
        end = grace if grace is not None else deadline
        if now >= end:
            return found
        try:
            reply = kc.get_shell_msg(timeout=end - now)
        except Empty:
            continue
        validate_message(reply)
        parent = reply["parent_header"].get("msg_id")
        if parent in found:
            found[parent].append(reply)


def check_malformed_requests(kc: Any) -> None:
    """Each malformed request gets one reply: an error naming its field."""
    sent = {send(kc, t, c): (t, c, name) for t, c, name in MALFORMED}
    unknown = [send(kc, "is_complete_request", c) for c in MALFORMED_IS_COMPLETE]
    found = replies_to(kc, [*sent, *unknown], more=0.3)
    for msg_id, (msg_type, content, name) in sent.items():
        replies = found[msg_id]
        assert len(replies) == 1, f"{msg_type} {content!r}: {len(replies)} replies"
        reply = replies[0]
        assert reply["msg_type"] == msg_type.replace("_request", "_reply")
        got = reply["content"]
        assert got["status"] == "error" and got["ename"] == "BadRequest", (content, got)
        assert f"`{name}`" in got["evalue"], (content, got)
        assert "internal" not in got["evalue"]
    for msg_id in unknown:
        assert [r["content"] for r in found[msg_id]] == [{"status": "unknown"}]


def check_cursor_clamped(kc: Any) -> None:
    """A cursor past either end of the code is read as that end."""
    for pos in (99, -5, 10**30):
        msg_id = send(kc, "complete_request", {"code": "tr", "cursor_pos": pos})
        (reply,) = replies_to(kc, [msg_id])[msg_id]
        got = reply["content"]
        assert got["status"] == "ok", got
        assert 0 <= got["cursor_start"] <= got["cursor_end"] <= 2, (pos, got)
        msg_id = send(kc, "inspect_request", {"code": "tr", "cursor_pos": pos})
        (reply,) = replies_to(kc, [msg_id])[msg_id]
        assert reply["content"]["status"] == "ok", reply["content"]


def check_unreadable_content(kc: Any) -> None:
    """Signed frames whose content is not JSON: an error reply; a header that is
    not JSON either: no reply (there is nothing to answer), and the kernel goes on."""
    msg_id = send_raw(kc, "complete_request", b'{"code": "ls", ')
    (reply,) = replies_to(kc, [msg_id])[msg_id]
    got = reply["content"]
    assert got["status"] == "error" and got["ename"] == "InvalidMessage", got
    assert "JSON" in got["evalue"]
    send_raw(kc, "complete_request", b"{}", header=b"{not json")
    msg_id = send(kc, "complete_request", {"code": "tr", "cursor_pos": 2})
    (reply,) = replies_to(kc, [msg_id])[msg_id]
    assert reply["content"]["status"] == "ok"
