"""wire.py: message checks and reading message bytes without decoding them (pure tests)."""

from __future__ import annotations

import json

from jupyter_client.session import Session

from silik_kernel.wire import DELIM, LeanSession, msg_type_of, signer, state_of


def parts_of(session: Session, msg_type: str, content: dict) -> list[bytes]:
    frames = session.serialize(session.msg(msg_type, content))
    return frames[frames.index(DELIM) + 1 :]


def test_a_signed_message_passes_once_and_a_copy_is_a_replay():
    session = Session(key=b"secret")
    parts = parts_of(session, "status", {"execution_state": "idle"})
    check = signer(session)
    assert check.check(parts)
    assert not check.check(parts), "the same signature twice is a replay"
    # the session itself sees the replay too: one history
    assert parts[0] in session.digest_history


def test_a_forged_or_unsigned_message_fails():
    session = Session(key=b"secret")
    other = Session(key=b"other")
    assert not signer(session).check(parts_of(other, "status", {"execution_state": "busy"}))
    parts = parts_of(session, "status", {"execution_state": "busy"})
    tampered = [parts[0], parts[1], parts[2], parts[3], b'{"execution_state": "idle"}']
    assert not signer(session).check(tampered)


def test_the_signer_follows_a_new_key():
    session = Session(key=b"before")
    check = signer(session)
    session.key = b"after"
    assert check.check(parts_of(Session(key=b"after"), "status", {"execution_state": "idle"}))
    assert not check.check(parts_of(Session(key=b"before"), "status", {"execution_state": "idle"}))


def test_a_recorded_request_is_a_replay_for_lean_deserialize():
    session = LeanSession(key=b"secret")
    frames = session.serialize(session.msg("execute_request", {"code": "1"}))
    parts = frames[frames.index(DELIM) + 1 :]
    signer(session).record(parts[0])
    try:
        session.deserialize(parts)
    except ValueError as exc:
        assert "duplicate" in str(exc).lower()
    else:
        raise AssertionError("a recorded signature must be refused")


def test_msg_type_and_state_are_read_from_the_bytes():
    session = Session(key=b"k")
    parts = parts_of(session, "status", {"execution_state": "busy"})
    assert msg_type_of(parts[1]) == "status"
    assert state_of(parts[4]) == "busy"
    # compact JSON (other kernels) and other key orders
    assert msg_type_of(b'{"msg_id":"1","msg_type":"execute_reply"}') == "execute_reply"
    assert state_of(b'{"execution_state":"idle"}') == "idle"


def test_an_escaped_look_alike_is_not_the_msg_type():
    header = {"username": '"msg_type": "forged"', "msg_type": "stream", "msg_id": "x"}
    assert msg_type_of(json.dumps(header).encode()) == "stream"


def test_unusual_layouts_are_decoded():
    # a msg_type with characters the fast reading does not take: decoded instead
    assert msg_type_of(json.dumps({"msg_type": "x-custom.1"}).encode()) == "x-custom.1"
    assert state_of(json.dumps({"execution_state": "starting"}).encode()) == "starting"
    assert state_of(b"{}") == ""
