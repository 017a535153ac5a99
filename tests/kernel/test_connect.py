"""Connect mode's pieces that need no kernel: which cells are silik's own, and which
shell messages are authentic execute_requests a pass-through cell may take."""

from __future__ import annotations

import zmq
from jupyter_client.session import Session

from silik_kernel.kernel.connect import ConnectMode, is_escape, parse_request
from silik_kernel.manager import SilikManager
from silik_kernel.protocol.wire import signer


def test_escapes_are_silik_cells():
    assert is_escape("/cmd") and is_escape("<") and is_escape("/cmd ls")
    assert not is_escape("/cmdx") and not is_escape("print('<')") and not is_escape("x < 1")


def _frames(session: Session, msg_type: str, content: dict) -> list[bytes]:
    msg = session.msg(msg_type, content)
    return session.serialize(msg, ident=[b"client"])


def test_parse_request_takes_authentic_execute_requests_only():
    session = Session(key=b"secret")
    check = signer(session)
    frames = _frames(session, "execute_request", {"code": "1 + 1"})
    idents, request, signed = parse_request(check, frames)
    assert idents == [b"client"]
    assert request["content"]["code"] == "1 + 1"
    assert request["header"]["msg_type"] == "execute_request"
    assert signed[0] == frames[2]  # the signature comes first
    # zmq frames as the socket gives them are read the same way
    assert parse_request(check, [zmq.Frame(f) for f in frames])[1]["content"] == {"code": "1 + 1"}
    assert parse_request(check, _frames(session, "kernel_info_request", {})) is None
    forged = Session(key=b"other")
    assert parse_request(check, _frames(forged, "execute_request", {"code": "x"})) is None
    assert parse_request(check, [b"no delimiter"]) is None


def test_nothing_is_passed_through_without_a_connected_kernel():
    connect = ConnectMode(SilikManager())
    assert not connect.active and connect.path is None
    assert connect.pass_through_target("print(1)") is None
