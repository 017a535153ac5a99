"""Checking and reading Jupyter wire messages, without more work than needed.

jupyter_client's ``Session.deserialize`` parses every date of the header and the
parent header (a regular expression over each value, then ``isoparse``): that
was the largest Python cost of each message silik relays. silik never looks at
those dates, so here they stay the strings they came as (and go out again as
the same strings). The checks are the same: a valid signature, never seen before.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import zmq
from jupyter_client.adapter import adapt
from jupyter_client.session import Session

DELIM = b"<IDS|MSG>"

# IOPub types silik passes on from a sub-kernel: outputs and comms. Status and
# execute_input are the cell's own (silik's, or the sub-kernel's in a pass-through
# cell); a finished cell passes these on still (output of its threads and timers).
RELAYED_IOPUB = frozenset(
    {
        "stream",
        "display_data",
        "update_display_data",
        "execute_result",
        "error",
        "clear_output",
        "comm_open",
        "comm_msg",
        "comm_close",
    }
)


def authentic(session: Session, parts: list[bytes], *, record: bool = True) -> bool:
    """``parts`` = [signature, header, parent, metadata, content, ...]: signed with
    the session's key and not a replay. ``record`` remembers the signature (a
    later copy is then a replay)."""
    if session.auth is None:
        return True
    signature = parts[0]
    if not hmac.compare_digest(signature, session.sign(parts[1:5])):
        return False
    if signature in session.digest_history:
        return False
    if record:
        session._add_digest(signature)
    return True


def unpack(parts: list[bytes], header: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message dict from checked parts (dates left as strings)."""
    if header is None:
        header = json.loads(parts[1])
    return {
        "header": header,
        "msg_id": header.get("msg_id"),
        "msg_type": header.get("msg_type"),
        "parent_header": json.loads(parts[2]),
        "metadata": json.loads(parts[3]),
        "content": json.loads(parts[4]),
        "buffers": parts[5:],
    }


class LeanSession(Session):
    """The kernels' Session: ``deserialize`` without date parsing."""

    def deserialize(
        self, msg_list: list[Any], content: bool = True, copy: bool = True
    ) -> dict[str, Any]:
        if self.packer not in ("json", "orjson") or not content:
            return super().deserialize(msg_list, content=content, copy=copy)
        head = [bytes(m.bytes) if not copy else m for m in msg_list[:5]]
        if len(head) < 5:
            raise TypeError(f"malformed message, must have at least 5 elements, got {len(head)}")
        if self.auth is not None and not head[0]:
            raise ValueError("Unsigned Message")
        if not authentic(self, head):
            raise ValueError("Invalid or duplicate signature")
        msg = unpack(head)
        if copy:
            msg["buffers"] = [memoryview(b) for b in msg_list[5:]]
        else:
            msg["buffers"] = [memoryview(bytes(m.bytes)) for m in msg_list[5:]]
        return adapt(msg)


# -- sending and receiving frames ------------------------------------------------
# pyzmq's Socket.send_multipart / recv_multipart turn every flag into an enum member
# and check each frame in Python: about 20 us per message here, five times per
# relayed cell. These go straight to pyzmq's compiled socket methods.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get
_SNDMORE = int(zmq.SNDMORE)
_NOBLOCK = int(zmq.NOBLOCK)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def send_frames(sock: zmq.Socket, frames: list[Any], flags: int = 0) -> None:
    """``sock.send_multipart(frames, flags)``, for bytes-like frames (copied: a
    zero-copy send costs a wake-up of pyzmq's garbage-collection thread)."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        _send(sock, frame, flags | _SNDMORE if i < last else flags)


def recv_frames(sock: zmq.Socket, flags: int = _NOBLOCK) -> list[bytes]:
    """``sock.recv_multipart(flags)`` (copied frames)."""
    frames = []
    while True:
        frame = _recv(sock, flags, copy=False)
        frames.append(frame.bytes)
        if not frame.more:
            return frames


def readable(sock: zmq.Socket) -> bool:
    """A message is waiting (also re-arms the socket's edge-triggered descriptor)."""
    return bool(_get(sock, _EVENTS) & _POLLIN)
