"""SilikManager against real python3 kernels, without the Jupyter protocol in between."""

from __future__ import annotations

import json
import os
import sys

import psutil
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.subkernels.execution import ExecuteOptions


@pytest.fixture
async def manager():
    m = SilikManager()
    try:
        yield m
    finally:
        await m.shutdown_all()


async def run(m: SilikManager, path: str, code: str) -> tuple[list[tuple[str, str]], dict]:
    """[(channel, msg_type)...] of one execution, and the execute_reply content."""
    seen = []
    reply: dict = {}
    run = await m.begin_execute(path, code, ExecuteOptions())
    try:
        async for channel, msg in run:
            seen.append((channel, msg["header"]["msg_type"]))
            if channel == "shell":
                reply = msg["content"]
            elif msg["header"]["msg_type"] in ("stream", "execute_result"):
                seen[-1] += (msg["content"].get("text") or msg["content"]["data"]["text/plain"],)
    finally:
        run.close()
    return seen, reply


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_start_execute_history_restart_stop(manager):
    (entry,) = await manager.start("python3", ["k1"])
    assert entry.path == "~/k1.py"
    rec = manager.record("k1.py")
    assert rec.status == "idle" and rec.spec_name == "python3"
    pid, connection_file = rec.sub.pid, rec.sub.connection_file
    assert is_running(pid) and os.path.exists(connection_file)

    seen, reply = await run(manager, "k1.py", "print('a')\nmarker_m = 20\nmarker_m * 2 + 2")
    assert seen == [
        ("iopub", "execute_input"),
        ("iopub", "stream", "a\n"),
        ("iopub", "execute_result", "42"),
        ("shell", "execute_reply"),
    ]
    assert reply["status"] == "ok"
    _, reply = await run(manager, "k1.py", "1/0")
    assert reply["status"] == "error" and reply["ename"] == "ZeroDivisionError"

    history = await manager.history("k1.py", n=50)
    assert any("marker_m = 20" in h[2] for h in history)
    history = await manager.history("k1.py", output=True, n=2)
    assert len(history) == 2 and all(isinstance(h[2], tuple | list) for h in history)

    await manager.restart("k1.py")
    assert rec.sub.pid != pid and not is_running(pid)
    assert manager.take_restart_notice("k1.py") is None  # a restart the user asked for
    _, reply = await run(manager, "k1.py", "marker_m")
    assert reply["ename"] == "NameError"

    pid = rec.sub.pid
    assert await manager.stop(["k1.py"]) == ["~/k1.py"]
    assert not is_running(pid)
    assert not os.path.exists(connection_file)
    assert manager.records == {} and manager.tree.root.children == {}


async def test_concurrent_start_and_tree_operations(manager):
    manager.mkdir("work")
    generated = await manager.start("python3", count=2, folder="work")
    assert [e.path for e in generated] == ["~/work/py1.py", "~/work/py2.py"]
    await manager.start("python3", ["a"])
    pids = [r.sub.pid for r in manager.records.values()]
    assert len(set(pids)) == 3 and all(map(is_running, pids))

    manager.mv("a.py", "work")
    assert manager.record("work/a.py").entry.path == "~/work/a.py"
    _, reply = await run(manager, "work/a.py", "print(1)")
    assert reply["status"] == "ok"
    manager.mv("work/a.py", "work/b")
    seen, _ = await run(manager, "~/work/b.py", "print('moved')")
    assert ("iopub", "stream", "moved\n") in seen
    with pytest.raises(SilikError, match="no such kernel or folder"):
        manager.record("work/a.py")

    with pytest.raises(SilikError, match="not empty"):
        await manager.rm("work")
    assert all(map(is_running, pids))
    removed = await manager.rm("work", recursive=True)
    assert sorted(removed) == ["~/work/b.py", "~/work/py1.py", "~/work/py2.py"]
    assert not any(map(is_running, pids))
    assert manager.records == {} and manager.tree.root.children == {}


FLAKY = """\
import os, sys
try:
    os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL))
except FileExistsError:
    sys.exit("flaky: another one started first")
sys.argv[1:2] = []
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


@pytest.fixture
async def odd_specs(tmp_path):
    """A manager that also knows a kernelspec that cannot start, and one that starts
    only once: of several started together, one runs and the others exit."""
    kernels = tmp_path / "kernels"
    specs = {
        "broken": ["/nonexistent/kernel-binary", "-f", "{connection_file}"],
        "flaky": [sys.executable, "-c", FLAKY, str(tmp_path / "lock"), "-f", "{connection_file}"],
    }
    for name, argv in specs.items():
        (kernels / name).mkdir(parents=True)
        spec = {"argv": argv, "display_name": name, "language": "python"}
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    m = SilikManager(KernelSpecManager(kernel_dirs=[str(kernels)]))
    try:
        yield m
    finally:
        await m.shutdown_all()


async def test_start_is_all_or_nothing(odd_specs):
    m = odd_specs
    await m.start("python3", ["k1"])
    before = {p.pid for p in psutil.Process().children(recursive=True)}

    def unchanged() -> None:
        assert list(m.tree.root.children) == ["k1.py"]
        assert [r.entry.name for r in m.records.values()] == ["k1.py"]
        now = {p.pid for p in psutil.Process().children(recursive=True) if is_running(p.pid)}
        assert now <= before

    with pytest.raises(SilikError, match="unknown kernelspec 'pyhton3'") as err:
        await m.start("pyhton3", ["x"])
    assert err.value.hint == "did you mean python3?"
    unchanged()
    with pytest.raises(SilikError, match="invalid name 'bad name'"):
        await m.start("python3", ["ok", "bad name"])
    unchanged()
    with pytest.raises(SilikError, match="~/k1.py already exists"):
        await m.start("python3", ["fresh", "k1"])
    unchanged()
    with pytest.raises(SilikError, match="failed to start"):
        await m.start("broken", ["b1", "b2"])
    unchanged()
    with pytest.raises(SilikError) as err:
        await m.start("flaky", ["f1", "f2", "f3"])
    assert "another one started first" in str(err.value)  # the kernel's own words
    psutil.wait_procs(
        [p for p in psutil.Process().children(recursive=True) if p.pid not in before], timeout=5
    )
    unchanged()
    _, reply = await run(m, "k1.py", "print('still fine')")
    assert reply["status"] == "ok"
