"""KernelStarter on its own: a Tree, a records dict and real python3 kernels."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field

import psutil
import pytest
from conftest import start_external_kernel
from jupyter_client.kernelspec import KernelSpecManager

from silik_kernel.errors import SilikError
from silik_kernel.records import KernelRecord
from silik_kernel.starter import KernelStarter, looks_like_connection_file
from silik_kernel.subkernels.subkernel import SubKernel
from silik_kernel.tree import Tree


@dataclass
class Harness:
    """A starter and what it was given: what it adopted, how often it asked for the env."""

    tree: Tree = field(default_factory=Tree)
    records: dict[str, KernelRecord] = field(default_factory=dict)
    adopted: list[SubKernel] = field(default_factory=list)
    env_calls: int = 0
    starter: KernelStarter | None = None

    def child_env(self, spec: object, kernel_id: str, owner: str) -> dict[str, str]:
        self.env_calls += 1
        return {"SILIK_TEST_MARK": f"for-{kernel_id}"}

    def build(self, ksm: KernelSpecManager) -> KernelStarter:
        self.starter = KernelStarter(
            self.tree, self.records, ksm, adopt=self.adopted.append, child_env=self.child_env
        )
        return self.starter

    async def close(self) -> None:
        for rec in list(self.records.values()):
            if rec.sub is None:
                continue
            if rec.sub.owned:
                await rec.sub.shutdown(now=True)
            else:
                await rec.sub.close()
        self.records.clear()


@pytest.fixture
def no_session_gateway(monkeypatch, tmp_path):
    """Kernels start here whatever the machine's gateway settings say."""
    monkeypatch.delenv("SILIK_GATEWAY_URL", raising=False)
    monkeypatch.setenv("SILIK_GATEWAY_CONFIG", str(tmp_path / "no-gateway.json"))


@pytest.fixture
async def harness(no_session_gateway):
    h = Harness()
    h.build(KernelSpecManager())
    try:
        yield h
    finally:
        await h.close()


async def stdout_of(sub: SubKernel, code: str) -> str:
    out: list[str] = []

    def on_iopub(msg) -> None:
        if msg["header"]["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = await sub.begin_execute(code).drain(on_iopub)
    assert reply["status"] == "ok", reply
    return "".join(out)


def test_connection_files_are_told_from_kernelspecs():
    assert looks_like_connection_file("kernel-1234.json")
    assert looks_like_connection_file("~/run/kernel")
    assert not looks_like_connection_file("python3")


async def test_start_files_each_kernel_under_its_own_id(harness):
    entries = await harness.starter.start(
        "python3", None, where=harness.tree.cwd, count=2, started_by="me", env={"EXTRA": "1"}
    )
    assert [e.path for e in entries] == ["~/py1.py", "~/py2.py"]
    assert harness.env_calls == 2  # once per kernel: each may get credentials of its own
    subs = [harness.records[e.kernel_id].sub for e in entries]
    assert harness.adopted == subs
    for entry, sub in zip(entries, subs, strict=True):
        rec = harness.records[entry.kernel_id]
        assert entry.kernel_id == sub.kernel_id
        assert (rec.entry, rec.spec_name, rec.started_by, rec.status) == (
            entry,
            "python3",
            "me",
            "idle",
        )
        assert rec.remote_host == "" and sub.owned
        text = await stdout_of(
            sub,
            "import os\nprint(os.environ['SILIK_TEST_MARK'], os.environ['EXTRA'])",
        )
        assert text == f"for-{sub.kernel_id} 1\n"  # its own variables, by its own id
    assert sorted(harness.records) == sorted(s.kernel_id for s in subs)


async def test_attach_by_connection_file_once(harness, tmp_path):
    connection_file = str(tmp_path / "kernel-outside.json")
    km = start_external_kernel(connection_file)
    try:
        (entry,) = await harness.starter.start(connection_file, ["outside"], where=harness.tree.cwd)
        assert entry.path == "~/outside.py"
        rec = harness.records[entry.kernel_id]
        assert rec.spec_name == "(attached)" and not rec.sub.owned
        assert harness.adopted == [rec.sub]
        assert harness.env_calls == 0  # an attached kernel's environment is not ours
        assert await stdout_of(rec.sub, "print('attached')") == "attached\n"
        with pytest.raises(SilikError, match="already attached as ~/outside.py"):
            await harness.starter.start(connection_file, None, where=harness.tree.cwd)
        assert list(harness.tree.root.children) == ["outside.py"]
    finally:
        await harness.close()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize(
    ("kernel", "labels", "kw", "message"),
    [
        ("python3", None, {"gateway": "http://gw", "local": True}, "either a gateway or local"),
        ("k.json", None, {"gateway": "http://gw"}, "a connection file is attached on this"),
        ("k.json", ["a", "b"], {}, "attach one connection file at a time"),
        ("k.json", None, {"count": 2}, "attach one connection file at a time"),
        ("python3", ["a", "b"], {"count": 3}, "either labels or a count"),
        ("python3", ["a", "a"], {}, "the same label is given twice"),
        ("python3", ["ok", "bad name"], {}, "invalid name 'bad name'"),
        ("pyhton3", ["x"], {}, "unknown kernelspec 'pyhton3'"),
    ],
)
async def test_bad_requests_start_nothing(harness, kernel, labels, kw, message):
    with pytest.raises(SilikError, match=message):
        await harness.starter.start(kernel, labels, where=harness.tree.cwd, **kw)
    assert harness.tree.root.children == {} and harness.records == {}
    assert harness.env_calls == 0 and harness.adopted == []


async def test_a_failed_start_frees_every_name(no_session_gateway, tmp_path):
    kernels = tmp_path / "kernels"
    (kernels / "broken").mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-c", "raise SystemExit('no kernel here')", "{connection_file}"],
        "display_name": "broken",
        "language": "python",
    }
    (kernels / "broken" / "kernel.json").write_text(json.dumps(spec))
    h = Harness()
    starter = h.build(KernelSpecManager(kernel_dirs=[str(kernels)]))
    try:
        with pytest.raises(SilikError) as err:
            await starter.start("broken", ["b1", "b2"], where=h.tree.cwd)
        assert "no kernel here" in str(err.value)  # the kernel's own words
        assert h.tree.root.children == {} and h.records == {}
        assert h.env_calls == 2  # it got as far as launching both
    finally:
        await h.close()


async def test_required_encryption_refuses_a_plain_kernelspec_and_keeps_nothing(
    no_session_gateway, tmp_path, monkeypatch
):
    kernels = tmp_path / "kernels"
    (kernels / "plain").mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]}
    spec.update(display_name="plain", language="python")  # no "supported_encryption"
    (kernels / "plain" / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("SILIK_TRANSPORT_ENCRYPTION", "required")
    h = Harness()
    starter = h.build(KernelSpecManager(kernel_dirs=[str(kernels)]))
    try:
        with pytest.raises(SilikError, match="'plain' does not declare CurveZMQ") as err:
            await starter.start("plain", ["p1"], where=h.tree.cwd)
        assert "SILIK_TRANSPORT_ENCRYPTION=auto" in (err.value.hint or "")
        assert h.tree.root.children == {} and h.records == {}
    finally:
        await h.close()


def living_children() -> list[psutil.Process]:
    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            pass
    return alive


@pytest.mark.parametrize("after", [0.0, 0.02, 0.3, 0.8, 1.5])
@pytest.mark.parametrize("cancels", [1, 2])
async def test_an_interrupted_start_keeps_nothing(harness, after, cancels):
    """Cancelled at any point (twice: a second interrupt during the undo), a start
    ends as a failed one: no entry, no record, no process."""
    before = {p.pid for p in living_children()}
    task = asyncio.ensure_future(
        harness.starter.start("python3", ["a", "b", "c"], where=harness.tree.cwd)
    )
    await asyncio.sleep(after)
    for _ in range(cancels):
        task.cancel()
        await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(task, timeout=30)
    except asyncio.CancelledError:
        assert harness.tree.root.children == {} and harness.records == {}
        left = [p for p in living_children() if p.pid not in before]
        assert not left, f"kernels of the interrupted start still run: {left}"
    else:  # up before the cancel arrived: a finished start keeps them
        assert sorted(harness.tree.root.children) == ["a.py", "b.py", "c.py"]
