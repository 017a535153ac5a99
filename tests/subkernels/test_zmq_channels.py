"""ZmqChannels: each message a kernel sends is checked and reaches the request it answers."""

from __future__ import annotations

import json

import pytest
from jupyter_client.session import Session

from silik_kernel.protocol.wire import DELIM
from silik_kernel.subkernels.routing import MessageRouter, quoted_id
from silik_kernel.subkernels.zmq_channels import ZmqChannels

# Nothing listens there: ZMQ connects lazily, and these tests hand messages in directly.
NOWHERE = {
    "transport": "tcp",
    "ip": "127.0.0.1",
    "shell_port": 9,
    "iopub_port": 9,
    "stdin_port": 9,
    "control_port": 9,
    "hb_port": 9,
    "key": "k",
    "signature_scheme": "hmac-sha256",
}


async def test_a_relayed_request_gets_its_own_messages_only():
    """msg_ids such as jupyter_client's "session_pid_N" share prefixes ("s_1_1" and
    "s_1_12"): the one in flight gets the messages of its own request, a finished one
    its late output, whatever the JSON layout of the parent header."""
    kernel = Session(key=b"k")
    router = MessageRouter()
    channels = ZmqChannels(NOWHERE, router)
    try:
        got: list[tuple[str, str, str]] = []
        router.raw[quoted_id("s_1_1")] = lambda ch, t, parts: got.append(("in flight", ch, t))
        router.forget_raw("s_1_12", late=lambda ch, t, parts: got.append(("late", ch, t)))

        def receive(parent_id: str, msg_type: str, content: dict, compact: bool = False) -> None:
            msg = kernel.msg(msg_type, content, parent={"msg_id": parent_id, "msg_type": "x"})
            frames = kernel.serialize(msg)
            if compact:  # another kernel's JSON layout: re-encode and re-sign
                parts = frames[frames.index(DELIM) + 1 :]
                parts[2] = json.dumps(json.loads(parts[2]), separators=(",", ":")).encode()
                frames = [DELIM, kernel.sign(parts[1:5]), *parts[1:]]
            channels._receive("iopub", frames)

        receive("s_1_12", "stream", {"name": "stdout", "text": "late\n"})
        receive("s_1_1", "status", {"execution_state": "busy"})
        receive("s_1_1", "stream", {"name": "stdout", "text": "now\n"}, compact=True)
        assert got == [
            ("late", "iopub", "stream"),
            ("in flight", "iopub", "status"),
            ("in flight", "iopub", "stream"),
        ]
        assert router.execution_state == "busy"

        # a msg_id the packer writes otherwise than json.dumps (non-ASCII: not escaped)
        got.clear()
        router.raw[quoted_id("s_é_2")] = lambda ch, t, parts: got.append(("in flight", ch, t))
        receive("s_é_2", "status", {"execution_state": "idle"})
        assert got == [("in flight", "iopub", "status")]
        assert router.execution_state == "idle"
    finally:
        channels.close()


async def test_decoded_messages_keep_their_signed_content_and_bad_ones_are_refused():
    kernel = Session(key=b"k")
    router = MessageRouter()
    channels = ZmqChannels(NOWHERE, router)
    try:
        got: list[dict] = []
        router.expect("req-1", lambda ch, msg: got.append(msg))
        msg = kernel.msg("stream", {"name": "stdout", "text": "hi\n"}, parent={"msg_id": "req-1"})
        frames = kernel.serialize(msg)
        channels._receive("iopub", frames)
        assert [m["content"]["text"] for m in got] == ["hi\n"]
        assert json.loads(got[0]["raw_content"]) == {"name": "stdout", "text": "hi\n"}

        forged = Session(key=b"not the key").serialize(msg)
        with pytest.raises(ValueError, match="signature"):
            channels._receive("iopub", forged)
        with pytest.raises(ValueError, match="replayed"):
            channels._receive("iopub", frames)
        assert len(got) == 1
    finally:
        channels.close()
