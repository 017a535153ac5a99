"""jupyter_kernel_test's protocol suite against silik, in both of its modes.

``TestCommandMode`` checks silik's own command language. ``TestConnectMode``
puts silik in connect mode on a python sub-kernel and runs the python samples
through it: the frontend must not be able to tell the gateway from the kernel
(except for ``language_info``, which stays silik's by design).
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

import jupyter_kernel_test as jkt
import psutil
import pytest
from jupyter_client.manager import start_new_kernel
from jupyter_kernel_test.msgspec_v5 import validate_message

SETUP_TIMEOUT = 60


def _run(kc: Any, code: str, timeout: float = SETUP_TIMEOUT) -> dict[str, Any]:
    """Execute ``code`` and wait for its reply and its idle status; fail on an error reply."""
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    assert reply["content"]["status"] == "ok", (code, reply["content"])
    return reply


class SilikKernelTests(jkt.KernelTests):
    """Starts silik, prepares it with ``setup_cells``, and proves nothing outlives it."""

    __test__ = False  # a base class: only its subclasses run
    kernel_name = "silik"
    language_name = "silik"
    file_extension = ".silik"
    setup_cells: tuple[str, ...] = ()

    @classmethod
    def setUpClass(cls) -> None:
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, startup_timeout=60)
        try:
            for code in cls.setup_cells:
                _run(cls.kc, code)
            cls.kernel_process = psutil.Process(cls.km.provisioner.process.pid)  # type: ignore[union-attr]
            cls.sub_processes = cls.kernel_process.children(recursive=True)
            assert cls.sub_processes or not cls.setup_cells, "the sub-kernel did not start"
        except BaseException:
            cls.kc.stop_channels()
            cls.km.shutdown_kernel(now=True)
            raise

    def _execute_collect(self, code: str, *types: str, **kw: Any) -> list[dict[str, Any]]:
        """Execute ``code``; its ok reply, then its iopub messages of ``types``."""
        msg_id = self.kc.execute(code, **kw)
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        assert reply is not None and reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "ok", reply["content"]
        return _iopub_until_idle(self.kc, msg_id, *types)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()
        gone, alive = psutil.wait_procs([cls.kernel_process, *cls.sub_processes], timeout=10)
        for proc in alive:
            proc.kill()
        assert not alive, f"left running after shutdown: {[p.cmdline() for p in alive]}"


class TestCommandMode(SilikKernelTests):
    __test__ = True
    # A python sub-kernel gives `run` something to print, fail and return values with.
    setup_cells = ("new python3 -l k1",)

    code_hello_world = "run \"print('hello, world')\" k1.py"
    code_stderr = "run \"import sys; print('to stderr', file=sys.stderr)\" k1.py"
    code_generate_error = "no-such-command"
    code_execute_result = [{"code": 'run "6*7" k1.py', "result": "42"}]
    code_display_data = [{"code": "kernels", "mime": "text/html"}]
    code_inspect_sample = "new"
    code_history_pattern = 'run "6*'
    supported_history_operations = ("tail", "range", "search")

    completion_samples = [
        {"text": "tre", "matches": {"tree"}},
        {"text": "new pyth", "matches": {"python3"}},
        {"text": "run 'x' k", "matches": {"k1.py"}},
        {"text": "> k1", "matches": {"k1.py"}},
    ]
    complete_code_samples = ["tree", "new python3 -l k2", 'run "x = 1" k1.py', "> k1.py"]
    incomplete_code_samples = ['run "print(1)', "run 'x = 1", "tree \\"]
    invalid_code_samples = ["no-such-command", "new"]

    def test_error_from_subkernel(self) -> None:
        """`run` fails the cell with the sub-kernel's own error, published once."""
        self.flush_channels()
        reply, output = self.execute_helper("run \"raise ValueError('bad')\" k1.py")
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "ValueError"
        assert [m["msg_type"] for m in output] == ["error"]

    def test_comms_of_run_reach_their_kernel(self) -> None:
        """A comm opened by `run` keeps talking to its kernel from command mode."""
        self.flush_channels()
        code = (
            "from comm import create_comm; got = []; "
            "c = create_comm(target_name='silik.cmd', data={}); "
            "c.on_msg(lambda m: got.append(m['content']['data']))"
        )
        [opened] = self._execute_collect(f'run "{code}" k1.py', "comm_open")
        comm_id = opened["content"]["comm_id"]

        msg_id = self.kc.comm_info(target_name="silik.cmd")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        validate_message(reply, "comm_info_reply", msg_id)
        assert list(reply["content"]["comms"]) == [comm_id]

        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"x": 1}})
        self.kc.shell_channel.send(msg)
        _iopub_until_idle(self.kc, msg["header"]["msg_id"])
        [out] = self._execute_collect('run "print(got)" k1.py', "stream")
        assert out["content"]["text"] == "[{'x': 1}]\n"

    def test_comm_open_refused_without_a_kernel(self) -> None:
        """In command mode a frontend's new comm has no kernel to go to: it is closed."""
        self.flush_channels()
        msg = self.kc.session.msg("comm_open", {"comm_id": "c0", "target_name": "t", "data": {}})
        self.kc.shell_channel.send(msg)
        [closed] = _iopub_until_idle(self.kc, msg["header"]["msg_id"], "comm_close")
        assert closed["content"]["comm_id"] == "c0"


def _iopub_until_idle(kc: Any, msg_id: str, *types: str) -> list[dict[str, Any]]:
    """The iopub messages of ``types`` for request ``msg_id``, up to its idle status.

    comm_* messages are checked by hand: jupyter_kernel_test's schemas lack them.
    """
    found = []
    deadline = time.monotonic() + jkt.TIMEOUT
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except Empty:
            continue
        if not msg["msg_type"].startswith("comm_"):
            validate_message(msg)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in types:
            found.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return found
    pytest.fail(f"no idle status for {msg_id}")


class TestConnectMode(SilikKernelTests):
    __test__ = True
    setup_cells = ("new python3 -l k1", "> k1.py")

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('to stderr', file=sys.stderr)"
    code_generate_error = "raise ValueError('bad')"
    code_execute_result = [
        {"code": "1+2", "result": "3"},
        {"code": "[n for n in range(3)]", "result": "[0, 1, 2]"},
    ]
    code_display_data = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>hi</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import Math, display; display(Math('x^2'))",
            "mime": "text/latex",
        },
    ]
    code_page_something = "print?"
    code_clear_output = "from IPython.display import clear_output; print('x'); clear_output()"
    code_inspect_sample = "print"
    code_history_pattern = "1?2*"
    # Not "range": IPython numbers its current session 0 in range replies, so ipykernel
    # itself fails that sub-test; the gateway relays the sub-kernel's reply unchanged.
    supported_history_operations = ("tail", "search")

    completion_samples = [
        {"text": "import o"},  # checked in test_module_completion
        {"text": "import operat", "matches": {"operator"}},
        {"text": "pri", "matches": {"print"}},
    ]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7"]

    def test_module_completion(self) -> None:
        self.flush_channels()
        msg_id = self.kc.complete("import o")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        validate_message(reply, "complete_reply", msg_id)
        assert {"os", "operator"} <= set(reply["content"]["matches"])
        assert (reply["content"]["cursor_start"], reply["content"]["cursor_end"]) == (7, 8)

    def test_input(self) -> None:
        """input() in the sub-kernel reaches this client's stdin channel, and the answer goes back."""
        self.flush_channels()
        msg_id = self.kc.execute("name = input('who? ')\nprint('hi', name)", allow_stdin=True)
        request = self.kc.get_stdin_msg(timeout=jkt.TIMEOUT)
        # Not validate_message: jupyter_kernel_test 0.7's schema wants a number for
        # `password`, where the spec (and ipykernel) use a boolean.
        assert request["msg_type"] == "input_request"
        assert request["parent_header"]["msg_id"] == msg_id
        assert request["content"] == {"prompt": "who? ", "password": False}
        self.kc.input("silik")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        validate_message(reply, "execute_reply", msg_id)
        assert reply["content"]["status"] == "ok"
        [out] = _iopub_until_idle(self.kc, msg_id, "stream")
        assert out["content"]["text"] == "hi silik\n"

    def test_input_refused_without_stdin(self) -> None:
        """A frontend without stdin gets python's own StdinNotImplementedError."""
        self.flush_channels()
        msg_id = self.kc.execute("input('x')", allow_stdin=False)
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        validate_message(reply, "execute_reply", msg_id)
        assert reply["content"]["ename"] == "StdinNotImplementedError"
        errors = _iopub_until_idle(self.kc, msg_id, "error")
        assert [e["content"]["ename"] for e in errors] == ["StdinNotImplementedError"]

    def test_escape_commands_stay_local(self) -> None:
        """`/cmd pwd` runs a silik command without leaving connect mode."""
        self.flush_channels()
        reply, output = self.execute_helper("/cmd pwd")
        assert reply["content"]["status"] == "ok"
        assert "k1.py" in "".join(m["content"].get("text", "") for m in output)
        reply, output = self.execute_helper("print(40 + 2)")
        assert [m["content"]["text"] for m in output if m["msg_type"] == "stream"] == ["42\n"]

    def test_comms_come_from_subkernel(self) -> None:
        """A comm the sub-kernel opens reaches this client, and comm_info lists it."""
        self.flush_channels()
        opened = self._execute_collect(
            "from comm import create_comm\nc = create_comm(target_name='silik.test', data={'a': 1})",
            "comm_open",
        )
        assert [m["content"]["target_name"] for m in opened] == ["silik.test"]
        assert opened[0]["content"]["data"] == {"a": 1}
        msg_id = self.kc.comm_info(target_name="silik.test")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        validate_message(reply, "comm_info_reply", msg_id)
        comms = reply["content"]["comms"]
        assert list(comms) == [opened[0]["content"]["comm_id"]]
        closed = self._execute_collect("c.close()", "comm_close")
        assert [m["content"]["comm_id"] for m in closed] == list(comms)
