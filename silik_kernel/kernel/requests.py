"""What a frontend's typing requests (complete, inspect, is_complete, history)
must carry, checked before a kernel acts on them.

ipykernel's handlers read each field where they use it: a missing field or a
value of the wrong type raises inside the handler, which logs it and never
replies, and the frontend waits for good. Checked here first, such a request
gets an error reply that names the field and says what it should hold. A
cursor past either end of the code is read as that end.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import zmq

from silik_kernel.protocol.wire import DELIM, Signer, loads

HISTORY_ACCESS = ("range", "tail", "search")
_INT_RANGE = 2**63  # what a kernel's history database (SQLite) can hold
_REQUIRED = object()
_KINDS = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


class BadRequest(ValueError):
    """A request whose fields do not fit the message spec."""

    ename = "BadRequest"


def json_type(value: Any) -> str:
    """``value``'s type in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"[:60]
    for kind, name in ((str, "a string"), (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _content(msg_type: str, content: Any) -> Mapping[str, Any]:
    if not isinstance(content, Mapping):
        raise BadRequest(
            f"{msg_type}: its `content` must be a JSON object, not {json_type(content)}"
        )
    return content


def _field(
    msg_type: str,
    content: Mapping[str, Any],
    name: str,
    kind: type,
    means: str,
    default: Any = _REQUIRED,
) -> Any:
    """``content[name]``, of ``kind``; an optional field (a ``default``) may be null."""
    value = content.get(name, default)
    if value is _REQUIRED:
        raise BadRequest(f"{msg_type} has no `{name}` ({means}): add it, as {_KINDS[kind]}")
    if value is None and default is not _REQUIRED:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(
            f"{msg_type}: `{name}` ({means}) must be {_KINDS[kind]}, not {json_type(value)}"
        )
    if kind is int and not -_INT_RANGE <= value < _INT_RANGE:
        raise BadRequest(f"{msg_type}: `{name}` ({means}) is out of range: {value}")
    return value


def _code_and_cursor(msg_type: str, content: Mapping[str, Any]) -> tuple[str, int]:
    code = _field(msg_type, content, "code", str, "the code being typed")
    cursor = content.get("cursor_pos", _REQUIRED)
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        cursor = _field(msg_type, content, "cursor_pos", int, "the cursor's offset in `code`")
    return code, min(max(cursor, 0), len(code))


def check_execute(request: Mapping[str, Any]) -> None:
    """An execute_request's content is an object holding its ``code``."""
    content = _content("execute_request", request.get("content"))
    _field("execute_request", content, "code", str, "the cell's code")
    if not isinstance(request.get("metadata"), Mapping):
        raise BadRequest("execute_request: its `metadata` must be a JSON object")


def complete_args(content: Any) -> tuple[str, int]:
    """(code, cursor_pos) of a complete_request, the cursor within the code."""
    return _code_and_cursor("complete_request", _content("complete_request", content))


def inspect_args(content: Any) -> tuple[str, int, int, set[str]]:
    """(code, cursor_pos, detail_level, omit_sections) of an inspect_request."""
    content = _content("inspect_request", content)
    code, cursor = _code_and_cursor("inspect_request", content)
    level = _field("inspect_request", content, "detail_level", int, "0 or 1", 0)
    omit = _field("inspect_request", content, "omit_sections", list, "sections to leave out", [])
    return code, cursor, level, {s for s in omit if isinstance(s, str)}


def is_complete_code(content: Any) -> str:
    """The code of an is_complete_request."""
    content = _content("is_complete_request", content)
    return _field("is_complete_request", content, "code", str, "the code typed so far")


def history_args(content: Any) -> dict[str, Any]:
    """A history_request's fields, as ``do_history`` takes them."""
    t = "history_request"
    content = _content(t, content)
    access = _field(t, content, "hist_access_type", str, "range, tail or search")
    if access not in HISTORY_ACCESS:
        raise BadRequest(
            f"{t}: `hist_access_type` must be range, tail or search, not {access[:40]!r}"
        )
    n = _field(t, content, "n", int, "how many cells", None)
    if n is not None and n < 0:
        raise BadRequest(f"{t}: `n` (how many cells) must be 0 or more, not {n}")
    return {
        "hist_access_type": access,
        "output": _field(t, content, "output", bool, "whether to include outputs"),
        "raw": _field(t, content, "raw", bool, "whether to return raw input"),
        "session": _field(t, content, "session", int, "a session number", None),
        "start": _field(t, content, "start", int, "the first cell", None),
        "stop": _field(t, content, "stop", int, "the cell to stop before", None),
        "n": n,
        "pattern": _field(t, content, "pattern", str, "a glob pattern", None),
        "unique": _field(t, content, "unique", bool, "whether to drop duplicates", False),
    }


def clamp_cursors(reply: dict[str, Any], code: str) -> dict[str, Any]:
    """A complete_reply whose cursor_start and cursor_end lie within ``code``."""
    start, end = reply.get("cursor_start"), reply.get("cursor_end")
    if isinstance(start, int) and isinstance(end, int):
        end = min(max(end, 0), len(code))
        reply["cursor_end"] = end
        reply["cursor_start"] = min(max(start, 0), end)
    return reply


def failed(reply_type: str, ename: str, evalue: str) -> dict[str, Any]:
    """A reply's content for a request that could not be answered.

    An is_complete_reply has no error status in the spec: it says "unknown".
    """
    if reply_type == "is_complete_reply":
        return {"status": "unknown"}
    return {
        "status": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [f"{ename}: {evalue}"],
    }


def unreadable(signer: Signer, msg: list[Any]) -> tuple[list[bytes], dict[str, Any]] | None:
    """A shell message ipykernel could not read, if it deserves a reply: the
    sender's idents and the message's header, when it is signed with our key
    and its header is a readable request's. None otherwise (ipykernel has
    logged it; there is no one to answer)."""
    frames = [f.bytes if isinstance(f, zmq.Frame) else bytes(f) for f in msg]
    try:
        i = frames.index(DELIM)
    except ValueError:
        return None
    parts = frames[i + 1 :]
    # (its signature is already recorded as seen: compare it, not check it again)
    if len(parts) < 5 or not hmac.compare_digest(parts[0], signer.sign(parts[1:5])):
        return None
    try:
        header = loads(parts[1])
    except ValueError:
        return None
    if not isinstance(header, dict) or not str(header.get("msg_type", "")).endswith("_request"):
        return None
    return frames[:i], header
