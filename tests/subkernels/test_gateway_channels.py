"""A gateway kernel's websocket messages (pure tests: no gateway needed)."""

from __future__ import annotations

import pytest

from silik_kernel.errors import SilikError
from silik_kernel.subkernels.gateway.client import (
    GatewayChannels,
    decode_message,
    encode_message,
)


def test_messages_round_trip_as_json_or_binary_with_buffers():
    channels = GatewayChannels("gw:8888")
    msg = channels.session.msg("execute_request", {"code": "1"})
    data, binary = encode_message("shell", msg, None)
    assert not binary
    channel, back = decode_message(data)
    assert channel == "shell" and back["content"] == {"code": "1"} and back["buffers"] == []

    msg = channels.session.msg("comm_msg", {"data": {}})
    data, binary = encode_message("shell", msg, [b"\x00\x01", memoryview(b"xy")])
    assert binary
    channel, back = decode_message(data)
    assert channel == "shell" and back["buffers"] == [b"\x00\x01", b"xy"]


def test_a_message_without_channel_is_iopub_and_gets_empty_headers():
    channel, msg = decode_message('{"header": {"msg_type": "status"}, "content": {}}')
    assert channel == "iopub"
    assert msg["parent_header"] == {} and msg["metadata"] == {}


def test_sending_while_the_websocket_is_down_says_silik_reconnects():
    channels = GatewayChannels("gw:8888")
    msg = channels.session.msg("kernel_info_request", {})
    with pytest.raises(SilikError, match="gateway at gw:8888 dropped; silik is reconnecting"):
        channels.transmit("shell", msg, None)
    channels.close()  # nothing to close: no error
    assert channels.ws is None
