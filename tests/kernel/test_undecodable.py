"""Text that is not UTF-8, from a sub-kernel or from the frontend, through real kernels.

ipykernel writes a lone surrogate (``'\\udcff'``) as an invalid UTF-8 byte, and
jupyter_client reads such bytes as U+FFFD. silik must read them the same way,
for every message it reads: one bad character may cost that character, never the
message (a reply or idle that never comes hangs the cell).
"""

from __future__ import annotations

import re

import pytest
from conftest import Result

BAD = "\ufffd"  # what an undecodable byte reads as

RAISE = "raise ValueError('bad \\udcff value')"
PRINT = "print('lone \\udcff surrogate')"
ASK = "print(input('who \\udcff? '))"
# Defined in the sub-kernel: a stream message whose content bytes are not UTF-8.
RAW_STREAM = r"""
def send_raw_stream():
    k = get_ipython().kernel
    content = b'{"name": "stdout", "text": "raw \xff bytes\\n"}'
    k.session.send(k.iopub_socket, "stream", content, parent=k.get_parent())
"""


@pytest.fixture(scope="module")
def k1(shared_silik):
    """``~/k1.py`` on the shared silik, with ``send_raw_stream`` defined."""
    shared_silik.ok("new python3 -l k1")
    shared_silik.ok("> k1.py")
    shared_silik.ok(RAW_STREAM)
    shared_silik.ok("<")
    yield shared_silik
    shared_silik.execute("<")
    shared_silik.execute("stop ~/k1.py")


@pytest.fixture
def connected(k1):
    k1.ok("> k1.py")
    yield k1
    k1.execute("<")


def assert_bad_value_error(res: Result) -> None:
    assert res.status == "error", res.text
    assert res.content["ename"] == "ValueError"
    assert res.content["evalue"] == f"bad {BAD} value"
    shown = re.sub(r"\x1b\[[0-9;]*m", "", res.error)  # without its colours
    assert f"ValueError: bad {BAD} value" in shown


def test_run_shows_a_reply_with_bad_utf8(k1):
    res = k1.execute(f'run "{RAISE}" k1.py', timeout=15)
    assert_bad_value_error(res)
    assert k1.ok("run 40+2 k1.py").text == "42\n"


def test_run_shows_output_with_bad_utf8(k1):
    assert k1.ok(f'run "{PRINT}" k1.py', timeout=15).stdout == f"lone {BAD} surrogate\n"
    assert k1.ok("run send_raw_stream() k1.py", timeout=15).stdout == f"raw {BAD} bytes\n"
    assert k1.ok("run 40+2 k1.py").text == "42\n"


def test_connect_mode_shows_a_reply_with_bad_utf8(connected):
    assert_bad_value_error(connected.execute(RAISE, timeout=15))
    assert connected.ok("40+2").text == "42\n"


def test_connect_mode_shows_output_with_bad_utf8(connected):
    assert connected.ok(PRINT, timeout=15).stdout == f"lone {BAD} surrogate\n"
    assert connected.ok("send_raw_stream()", timeout=15).stdout == f"raw {BAD} bytes\n"
    # `/cmd LINE` reads the sub-kernel's messages through silik (not passed through).
    assert connected.ok(f'/cmd run "{PRINT}" k1.py').stdout == f"lone {BAD} surrogate\n"
    assert connected.ok("40+2").text == "42\n"


# -- from the frontend ---------------------------------------------------------
def send_with_bad_byte(
    k, msg_type: str, content: dict, channel: str = "shell", parent: dict | None = None
) -> str:
    """Send a ``msg_type`` message whose content has a 0xff byte where it says
    ``@BAD@``, correctly signed; its msg_id."""
    session = k.kc.session
    msg = session.msg(msg_type, content, parent=parent)
    frames = session.serialize(msg)
    at = frames.index(b"<IDS|MSG>") + 1
    frames[at + 4] = frames[at + 4].replace(b"@BAD@", b"\xff")
    frames[at] = session.sign(frames[at + 1 : at + 5])
    getattr(k.kc, f"{channel}_channel").socket.send_multipart(frames)
    return msg["header"]["msg_id"]


def answer_input_with_bad_byte(k, code: str) -> Result:
    """Run ``code``, which asks for input, and answer with a 0xff byte in the value."""
    msg_id = k.kc.execute(code, allow_stdin=True)
    request = k.kc.get_stdin_msg(timeout=15)
    assert request["content"]["prompt"] == f"who {BAD}? "
    send_with_bad_byte(k, "input_reply", {"value": "me @BAD@"}, "stdin", request)
    return k.collect(msg_id, timeout=15)


def test_a_command_cell_with_bad_utf8_is_run(k1):
    code = "run \"print('front @BAD@ end')\" k1.py"
    msg_id = send_with_bad_byte(k1, "execute_request", {"code": code, "silent": False})
    res = k1.collect(msg_id, timeout=15)
    assert res.status == "ok", res.text
    assert res.stdout == f"front {BAD} end\n"
    assert k1.ok("pwd").stdout == "~\n"


def test_a_connect_mode_cell_with_bad_utf8_is_run(connected):
    code = "print('front @BAD@ end')"
    msg_id = send_with_bad_byte(connected, "execute_request", {"code": code, "silent": False})
    res = connected.collect(msg_id, timeout=15)
    assert res.status == "ok", res.text
    assert res.stdout == f"front {BAD} end\n"
    assert connected.ok("40+2").text == "42\n"


def test_other_requests_with_bad_utf8_are_answered(k1):
    code = "pw @BAD@"
    msg_id = send_with_bad_byte(k1, "is_complete_request", {"code": code})
    assert k1.shell_reply(msg_id, timeout=15)["content"]["status"] in ("complete", "invalid")
    msg_id = send_with_bad_byte(k1, "complete_request", {"code": "@BAD@ pw", "cursor_pos": 4})
    assert k1.shell_reply(msg_id, timeout=15)["content"]["status"] == "ok"
    assert k1.ok("pwd").stdout == "~\n"


def test_run_input_with_bad_utf8(k1):
    assert answer_input_with_bad_byte(k1, f'run "{ASK}" k1.py').stdout == f"me {BAD}\n"
    assert k1.ok("run 40+2 k1.py").text == "42\n"


def test_connect_mode_input_with_bad_utf8(connected):
    assert answer_input_with_bad_byte(connected, ASK).stdout == f"me {BAD}\n"
    assert connected.ok("40+2").text == "42\n"
