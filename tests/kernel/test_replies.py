"""A cell's reply and idle leave once, whichever path ends the cell first."""

from __future__ import annotations

from typing import Any

import pytest
import zmq
from jupyter_client.session import Session
from wired_replies import wired_replies

from silik_kernel.kernel.base import ok_reply
from silik_kernel.kernel.replies import CellEnd, Replies


@pytest.fixture
def wired():
    with wired_replies("replies") as w:
        yield w.session, w.replies, w.shell, w.published


def _end(replies: Replies, session: Session, aborted: list[Any]) -> CellEnd:
    request = session.msg("execute_request", {"code": 'run "x" k1.py'})
    return CellEnd(
        replies,
        [b"client"],
        request,
        {},
        reply_for=lambda content: ok_reply(3) if content["status"] == "ok" else None,
        finish_metadata=lambda request, metadata, reply: metadata,
        before_send=lambda request, reply: aborted.append(reply["status"]),
    )


def _sent(session: Session, sock: zmq.Socket) -> list[dict[str, Any]]:
    out = []
    while sock.poll(0):
        frames = sock.recv_multipart()
        idents, msg = session.feed_identities(frames)
        out.append(session.deserialize(msg))
    return out


def test_the_task_sends_once(wired):
    session, replies, shell_in, published = wired
    aborted: list[str] = []
    end = _end(replies, session, aborted)
    end.send({"status": "error", "execution_count": 3, "ename": "E", "evalue": "", "traceback": []})
    end.send(ok_reply(3))  # a second ending changes nothing
    (reply,) = _sent(session, shell_in)
    assert reply["content"]["status"] == "error"
    assert len(published) == 1 and b"idle" in published[0][-1]
    assert aborted == ["error"]


def test_the_run_ends_the_cell_when_nothing_is_left_to_forward(wired):
    session, replies, shell_in, published = wired
    end = _end(replies, session, [])
    kernel_reply = {"header": {"msg_type": "execute_reply"}, "content": {"status": "ok"}}
    output = {"header": {"msg_type": "stream"}, "content": {"text": "x"}}
    echo = {"header": {"msg_type": "execute_input"}, "content": {}}
    end.prepare(kernel_reply)
    assert _sent(session, shell_in) == []  # built, not sent
    assert not end.finish([("iopub", output)], kernel_reply)  # output first: the reader's
    assert end.finish([("iopub", echo)], kernel_reply)
    (reply,) = _sent(session, shell_in)
    assert reply["content"] == ok_reply(3) and end.sent == ok_reply(3)
    end.send(ok_reply(4))  # the task's own ending, later: nothing more leaves
    assert _sent(session, shell_in) == [] and len(published) == 1


def test_an_aborted_run_is_left_to_the_task(wired):
    session, replies, shell_in, _ = wired
    end = _end(replies, session, [])
    aborted_reply = {"header": {"msg_type": "execute_reply"}, "content": {"status": "aborted"}}
    assert not end.finish([], aborted_reply)
    assert end.sent is None and _sent(session, shell_in) == []
