"""ManagerService.run_code against a real python3 kernel: its events, its result, its timeout."""

from __future__ import annotations

import pytest

from silik_kernel import service
from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.service import ManagerService

RESULT_KEYS = [
    "path",
    "status",
    "execution_count",
    "ename",
    "evalue",
    "traceback",
    "timed_out",
    "seconds",
]


@pytest.fixture
async def svc():
    manager = SilikManager()
    try:
        await manager.start("python3", ["k"])
        yield ManagerService(manager)
    finally:
        await manager.shutdown_all()


async def run(svc: ManagerService, code: str, timeout: float = 30.0) -> tuple[list[dict], dict]:
    events = [e async for e in svc.run_code("k.py", code, timeout)]
    *outputs, last = events
    assert last["kind"] == "result" and all(e["kind"] == "output" for e in outputs)
    assert list(last["data"]) == RESULT_KEYS
    return outputs, last["data"]


async def test_outputs_then_the_result(svc):
    outputs, result = await run(svc, "print('a')\n6 * 7")
    assert [(e["msg_type"], e["content"].get("text")) for e in outputs] == [
        ("stream", "a\n"),
        ("execute_result", None),
    ]
    assert outputs[1]["content"]["data"]["text/plain"] == "42"
    assert result["path"] == "~/k.py" and result["status"] == "ok"
    assert result["execution_count"] == 1 and result["timed_out"] is False
    assert result["ename"] is None and result["seconds"] < 30


async def test_an_error_is_an_output_and_the_result(svc):
    outputs, result = await run(svc, "1/0")
    assert [e["msg_type"] for e in outputs] == ["error"]
    assert result["status"] == "error" and result["ename"] == "ZeroDivisionError"
    assert result["traceback"] and result["timed_out"] is False


async def test_timeout_interrupts_and_keeps_the_output_so_far(svc):
    code = "import time\nprint('before', flush=True)\ntime.sleep(30)"
    outputs, result = await run(svc, code, timeout=1)
    assert ("stream", "before\n") in [(e["msg_type"], e["content"].get("text")) for e in outputs]
    assert result["timed_out"] is True
    assert result["status"] == "error" and result["ename"] == "KeyboardInterrupt"
    assert 1 <= result["seconds"] < 10
    _, after = await run(svc, "print('usable')")
    assert after["status"] == "ok"


async def test_a_run_the_interrupt_cannot_end_is_given_up(svc, monkeypatch):
    monkeypatch.setattr(service, "INTERRUPT_GRACE", 0.5)
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('deaf', flush=True)\n"
        "time.sleep(30)"
    )
    outputs, result = await run(svc, code, timeout=1)
    assert [e["content"].get("text") for e in outputs] == ["deaf\n"]
    assert result["status"] == "timeout" and result["timed_out"] is True
    assert result["ename"] is None and result["execution_count"] is None
    assert 1.5 <= result["seconds"] < 5


async def test_an_unknown_path_is_an_error(svc):
    with pytest.raises(SilikError, match="no such kernel or folder"):
        [e async for e in svc.run_code("nope.py", "1")]


async def run_in(svc: ManagerService, path: str, code: str) -> None:
    events = [e async for e in svc.run_code(path, code, 30.0)]
    assert events[-1]["data"]["status"] == "ok", events


async def test_kernel_history_is_the_kernels_own_session(tmp_path, monkeypatch):
    # IPython's history database is shared by every kernel using the same IPYTHONDIR.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    manager = SilikManager()
    try:
        await manager.start("python3", ["older"])
        await run_in(ManagerService(manager), "older.py", "older_marker = 1")
        await manager.stop(["older.py"])
        await manager.start("python3", ["k"])
        svc = ManagerService(manager)
        assert await svc.op_kernel_history("k.py") == []
        await run_in(svc, "k.py", "own_marker = 2")
        await run_in(svc, "k.py", "own_marker + 1")
        assert await svc.op_kernel_history("k.py", n=1) == ["own_marker + 1"]
        assert await svc.op_kernel_history("k.py") == ["own_marker = 2", "own_marker + 1"]
    finally:
        await manager.shutdown_all()
