"""Checking and reading Jupyter wire messages, without more work than needed.

jupyter_client's ``Session.deserialize`` parses every date of the header and the
parent header (a regular expression over each value, then ``isoparse``): that
is the largest Python cost of each message a relay passes on. silik never looks at
those dates, so here they stay the strings they came as (and go out again as
the same strings). The checks are the same: a valid signature, never seen before.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client._version import protocol_version
from jupyter_client.adapter import adapt
from jupyter_client.session import DONE, Session, extract_header, utcnow

DELIM = b"<IDS|MSG>"

# Messages a relay socket holds for a reader that is behind, before it drops any
# (ZMQ's default high-water mark is 1,000). silik reads its sub-kernels' IOPub into
# memory as fast as it arrives and keeps up to this much for a slow frontend: a
# burst of output is delivered late rather than lost.
RELAY_HWM = 100_000

_ONE_SHOT = 64 * 1024  # bytes signed in one call (joined); larger messages by parts


class Signer:
    """A session's signing and replay check, on the per-message path.

    ``Session.sign`` and ``Session._add_digest`` read four traitlets per message;
    this keeps plain references to the same HMAC and the same digest history (a
    message checked here is a replay for the session too, and the other way round).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._refresh()
        # A new key (a new HMAC), a new history: follow the session.
        session.observe(self._refresh, names=["auth", "digest_history", "digest_history_size"])

    def _refresh(self, change: Any = None) -> None:
        session = self.session
        self._auth = session.auth
        self._key = session.key
        self._digest = session.digest_mod
        self._history = session.digest_history
        self._size = session.digest_history_size

    def sign(self, parts: list[bytes]) -> bytes:
        """The signature of [header, parent, metadata, content]."""
        if self._auth is None:
            return b""
        if sum(map(len, parts)) <= _ONE_SHOT:
            # One call into OpenSSL: the HMAC object's copy/update/hexdigest are
            # Python methods, eight calls per signature on the relay path.
            return hmac.digest(self._key, b"".join(parts), self._digest).hex().encode()
        h = self._auth.copy()  # large: no joined copy of the parts
        for part in parts:
            h.update(part)
        return h.hexdigest().encode()

    def check(self, parts: list[bytes], *, record: bool = True) -> bool:
        """``parts`` = [signature, header, parent, metadata, content, ...]: signed with
        the session's key and not a replay. ``record`` remembers the signature (a
        later copy is then a replay)."""
        if self._auth is None:
            return True
        signature = parts[0]
        if not hmac.compare_digest(signature, self.sign(parts[1:5])):
            return False
        if signature in self._history:
            return False
        if record:
            self.record(signature)
        return True

    def record(self, signature: bytes) -> None:
        if self._auth is None or self._size == 0:
            return
        self._history.add(signature)
        if len(self._history) > self._size:
            self.session._cull_digest_history()


def signer(session: Session) -> Signer:
    """The session's :class:`Signer` (one per session)."""
    found = session.__dict__.get("_silik_signer")
    if found is None:
        found = session.__dict__["_silik_signer"] = Signer(session)
    return found


def authentic(session: Session, parts: list[bytes], *, record: bool = True) -> bool:
    """``Signer.check`` with the session's signer."""
    return signer(session).check(parts, record=record)


# A header's msg_type and a status message's state, read from the JSON bytes: the
# relay path routes and relays without decoding what it passes on. The header is a
# flat JSON object, so an unescaped `"msg_type"` key is the real one; bytes laid out
# otherwise (another value syntax) are decoded instead.
_MSG_TYPE = re.compile(rb'"msg_type"\s*:\s*"([A-Za-z_]+)"')
_STATE = re.compile(rb'"execution_state"\s*:\s*"([a-z]+)"')


_raw_decode = json.JSONDecoder().raw_decode


def loads(data: bytes) -> Any:
    """``json.loads`` for a message part (UTF-8 JSON bytes), in fewer Python calls.

    Bytes that are not UTF-8 are read with U+FFFD in their place, as jupyter_client
    reads them: ipykernel writes a lone surrogate (``'\\udcff'``) as an invalid
    byte, and one bad character must not cost the whole message.
    """
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
    try:
        value, end = _raw_decode(text)
    except ValueError:
        return json.loads(text)  # leading whitespace, or invalid: json says which
    if end != len(text):
        return json.loads(text)  # trailing data: json.loads rejects it
    return value


def msg_type_of(header: bytes) -> str:
    found = _MSG_TYPE.search(header)
    if found is not None:
        return found.group(1).decode()
    return str(loads(header).get("msg_type", ""))


def state_of(content: bytes) -> str:
    """A status message's execution_state."""
    found = _STATE.search(content)
    if found is not None:
        return found.group(1).decode()
    return str(loads(content).get("execution_state", ""))


def unpack(
    parts: list[bytes],
    header: dict[str, Any] | None = None,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message dict from checked parts (dates left as strings); ``header`` and
    ``parent`` when they are decoded already."""
    if header is None:
        header = loads(parts[1])
    return {
        "header": header,
        "msg_id": header.get("msg_id"),
        "msg_type": header.get("msg_type"),
        "parent_header": loads(parts[2]) if parent is None else parent,
        "metadata": loads(parts[3]),
        "content": loads(parts[4]),
        "buffers": parts[5:],
    }


class LeanSession(Session):
    """The kernels' Session: ``deserialize`` without date parsing, and messages
    built, signed and packed without reading the session's traits for each one
    (jupyter_client's ``msg``/``serialize``/``send`` read about thirty per message).

    The traits are read again whenever one of them changes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lean_traits()
        self.observe(self._lean_traits, names=_LEAN_TRAITS)

    def _lean_traits(self, change: Any = None) -> None:
        self._l_session = self.session
        self._l_username = self.username
        self._l_metadata = self.metadata
        self._l_pack = self.pack
        self._l_copy_threshold = self.copy_threshold
        self._l_pid = self.pid if self.check_pid else None
        self._l_plain = not self.adapt_version and not self.debug
        self._l_sign = signer(self).sign

    @property
    def msg_id(self) -> str:
        number = self.message_count
        self.message_count = number + 1
        return f"{self._l_session}_{os.getpid()}_{number}"

    def msg_header(self, msg_type: str) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "msg_type": msg_type,
            "username": self._l_username,
            "session": self._l_session,
            "date": utcnow(),
            "version": protocol_version,
        }

    def msg(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        header = self.msg_header(msg_type) if header is None else header
        msg_metadata = self._l_metadata.copy()
        if metadata is not None:
            msg_metadata.update(metadata)
        return {
            "header": header,
            "msg_id": header["msg_id"],
            "msg_type": header["msg_type"],
            "parent_header": {} if parent is None else extract_header(parent),
            "content": {} if content is None else content,
            "metadata": msg_metadata,
        }

    def sign(self, msg_list: list[bytes]) -> bytes:
        return self._l_sign(msg_list)

    def serialize(
        self, msg: dict[str, Any], ident: list[bytes] | bytes | None = None
    ) -> list[bytes]:
        content = msg.get("content", {})
        if not isinstance(content, dict):
            return super().serialize(msg, ident)  # None, bytes, str or an error
        pack = self._l_pack
        real = [
            pack(msg["header"]),
            pack(msg["parent_header"]),
            pack(msg["metadata"]),
            pack(content),
        ]
        if isinstance(ident, list):
            to_send = [*ident, DELIM]
        else:
            to_send = [DELIM] if ident is None else [ident, DELIM]
        to_send.append(self._l_sign(real))
        to_send.extend(real)
        return to_send

    def send(
        self,
        stream: Any,
        msg_or_type: dict[str, Any] | str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        ident: bytes | list[bytes] | None = None,
        buffers: list[Any] | None = None,
        track: bool = False,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        if (
            buffers
            or track
            or not self._l_plain
            or not isinstance(msg_or_type, str)
            or isinstance(stream, zmq.asyncio.Socket)
            or (self._l_pid is not None and os.getpid() != self._l_pid)
        ):  # anything unusual: jupyter_client's way
            return super().send(
                stream, msg_or_type, content, parent, ident, buffers, track, header, metadata
            )
        msg = self.msg(msg_or_type, content, parent, header, metadata)
        to_send = self.serialize(msg, ident)
        if stream:
            longest = max(len(part) for part in to_send)
            stream.send_multipart(to_send, copy=longest < self._l_copy_threshold)
        msg["tracker"] = DONE
        return msg

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


# The traits LeanSession reads once, and again when one changes.
_LEAN_TRAITS = [
    "session",
    "username",
    "metadata",
    "pack",
    "copy_threshold",
    "pid",
    "check_pid",
    "adapt_version",
    "debug",
]


# -- sending and receiving frames ------------------------------------------------
# pyzmq's Socket.send_multipart / recv_multipart turn every flag into an enum member
# and check each frame in Python: about 20 us per message here, five times per
# relayed cell. These go straight to pyzmq's compiled socket methods.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get
_SNDMORE = int(zmq.SNDMORE)
NOBLOCK = int(zmq.NOBLOCK)  # flags as ints: an enum flag costs an enum operation per frame
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def send_frames(sock: zmq.Socket, frames: list[Any], flags: int = 0) -> None:
    """``sock.send_multipart(frames, flags)``, for bytes-like frames (copied: a
    zero-copy send costs a wake-up of pyzmq's garbage-collection thread); ``flags``
    an int, such as :data:`NOBLOCK`."""
    more = flags | _SNDMORE
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        _send(sock, frame, more if i < last else flags)


def recv_frames(sock: zmq.Socket, flags: int = NOBLOCK, *, copy: bool = True) -> list[Any]:
    """``sock.recv_multipart(flags, copy=copy)``: bytes, or zmq.Frame objects."""
    frames = []
    while True:
        frame = _recv(sock, flags, copy=False)
        frames.append(frame.bytes if copy else frame)
        if not frame.more:
            return frames


def readable(sock: zmq.Socket) -> bool:
    """A message is waiting (also re-arms the socket's edge-triggered descriptor)."""
    return bool(_get(sock, _EVENTS) & _POLLIN)
