"""wire.py: message checks and reading message bytes without decoding them (pure tests)."""

from __future__ import annotations

import json

import pytest
from jupyter_client.session import Session

from silik_kernel.protocol.wire import DELIM, LeanSession, loads, msg_type_of, signer, state_of


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


@pytest.mark.parametrize("size", [0, 100, 64 * 1024, 64 * 1024 + 1, 300_000])
@pytest.mark.parametrize("scheme", ["hmac-sha256", "hmac-sha512", "hmac-md5"])
def test_the_signer_signs_as_the_session_does(size, scheme):
    """Small messages are signed in one call, large ones part by part: same signature."""
    session = Session(key=b"secret", signature_scheme=scheme)
    parts = parts_of(session, "stream", {"name": "stdout", "text": "\u00e9" * size})
    assert signer(session).sign(parts[1:5]) == session.sign(parts[1:5]) == parts[0]
    assert signer(session).check(parts)


def test_loads_reads_what_json_reads_and_refuses_what_it_refuses():
    for text in ('{"a": [1, 2.5, null, true]}', ' {"a": 1}', '"\u00e9"', "{}", '{"k": "\u00e9"}'):
        assert loads(text.encode()) == json.loads(text)
    assert loads('{"é": "ü"}'.encode()) == {"é": "ü"}
    for bad in (b'{"a": 1} trailing', b"", b"{", b'{"a": 1}{}'):
        with pytest.raises(ValueError):
            loads(bad)


def test_bytes_that_are_not_utf8_are_read_as_jupyter_client_reads_them():
    session = Session(key=b"k")
    # ipykernel writes a lone surrogate as an invalid byte (surrogateescape)
    content = session.pack({"text": "lone \udcff", "name": "stdout"})
    assert b"\xff" in content
    assert loads(content) == session.unpack(content) == {"text": "lone \ufffd", "name": "stdout"}
    header = b'{"msg_type": "x-custom.1", "user": "\xff"}'  # the decoded way
    assert msg_type_of(header) == "x-custom.1"
    assert state_of(b'{"execution_state": "st-arting", "x": "\xfe"}') == "st-arting"


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


# -- LeanSession builds what jupyter_client's Session builds -------------------------------
class FakeStream:
    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    def send_multipart(self, frames: list[bytes], copy: bool = True) -> None:
        self.sent.append(list(frames))


def twins(**kw) -> tuple[LeanSession, Session]:
    lean, plain = LeanSession(**kw), Session(**kw)
    lean.message_count = plain.message_count = 7
    return lean, plain


def test_lean_messages_are_the_ones_jupyter_client_builds():
    lean, plain = twins(key=b"k", session="S", username="u")
    parent = Session(key=b"k").msg("execute_request", {"code": "1"})
    a = lean.msg("status", {"execution_state": "idle"}, parent=parent, metadata={"x": 1})
    b = plain.msg("status", {"execution_state": "idle"}, parent=parent, metadata={"x": 1})
    assert a["header"]["msg_id"] == b["header"]["msg_id"]
    b["header"]["date"] = a["header"]["date"]
    assert a == b
    assert lean.serialize(a, ident=[b"id"]) == plain.serialize(b, ident=[b"id"])
    assert lean.serialize(a, ident=b"id") == plain.serialize(b, ident=b"id")
    assert lean.serialize(a) == plain.serialize(b)
    # contents that are not dicts: jupyter_client's way
    raw = dict(a, content=b'{"execution_state": "busy"}')
    assert lean.serialize(raw) == plain.serialize(dict(b, content=raw["content"]))


def test_lean_send_sends_what_jupyter_client_sends():
    lean, plain = twins(key=b"k", session="S", username="u")
    parent = Session(key=b"k").msg("execute_request", {"code": "1"})
    for kw in ({}, {"buffers": [b"\x00\x01"]}, {"metadata": {"m": [1]}, "ident": [b"a", b"b"]}):
        ls, ps = FakeStream(), FakeStream()
        sent_lean = lean.send(ls, "comm_msg", {"data": {}}, parent=parent, **kw)
        sent_plain = plain.send(ps, "comm_msg", {"data": {}}, parent=parent, **kw)
        assert sent_lean["header"]["msg_id"] == sent_plain["header"]["msg_id"]
        # the same frames but for the date (and so the signature)
        got = [plain.deserialize(f[f.index(DELIM) + 1 :]) for f in (ls.sent[0], ps.sent[0])]
        for msg in got:
            msg["header"].pop("date")
        assert got[0]["header"] == got[1]["header"]
        assert got[0]["content"] == got[1]["content"] and got[0]["metadata"] == got[1]["metadata"]
        assert [bytes(b) for b in got[0]["buffers"]] == [bytes(b) for b in got[1]["buffers"]]
        assert ls.sent[0][: ls.sent[0].index(DELIM)] == ps.sent[0][: ps.sent[0].index(DELIM)]


def test_lean_session_follows_its_traits():
    lean = LeanSession(key=b"k", session="S", username="u")
    lean.session, lean.username, lean.key = "T", "v", b"other"
    lean.metadata = {"who": "me"}
    msg = lean.msg("status", {"execution_state": "idle"})
    assert msg["header"]["session"] == "T" and msg["header"]["username"] == "v"
    assert msg["header"]["msg_id"].startswith("T_")
    assert msg["metadata"] == {"who": "me"}
    frames = lean.serialize(msg)
    assert Session(key=b"other").deserialize(frames[frames.index(DELIM) + 1 :])["content"] == {
        "execution_state": "idle"
    }
