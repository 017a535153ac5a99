"""CurveZMQ between silik and its sub-kernels: on where the kernelspec supports it,
and a local process that knows the ports (even the HMAC key) but not the Curve
keys gets nothing out of the kernel."""

from __future__ import annotations

import asyncio
import json

import pytest
import zmq
from conftest import heard_within, keyless_sockets, send_signed_execute
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from silik_kernel.errors import SilikError
from silik_kernel.subkernels.process import ENV_ENCRYPTION, KernelProcess
from silik_kernel.subkernels.subkernel import SubKernel

NO_ANSWER_WITHIN = 1.5  # seconds an outsider waits for a reply that must not come


async def stdout_of(sub: SubKernel, code: str) -> str:
    out: list[str] = []

    def on_iopub(msg) -> None:
        if msg["header"]["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = await sub.begin_execute(code).drain(on_iopub)
    assert reply["status"] == "ok", reply
    return "".join(out)


def log_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


@pytest.fixture
def default_policy(monkeypatch):
    monkeypatch.delenv(ENV_ENCRYPTION, raising=False)


async def test_a_kernel_whose_spec_supports_curve_runs_encrypted_by_default(default_policy):
    sub = await SubKernel.start("python3", kernel_id="curve-default")
    try:
        with open(sub.connection_file) as f:
            written = json.load(f)
        assert written.get("curve_publickey") and written.get("curve_secretkey")
        assert "TCP without encryption" not in log_text(sub.process.log_path)
        # silik's own sockets (shell, iopub, heartbeat) talk to it through Curve.
        assert await stdout_of(sub, "print(6 * 7)") == "42\n"
        assert await sub.channels.heartbeat()
    finally:
        await sub.shutdown(now=True)


@pytest.mark.parametrize("curve_keys", [False, True], ids=["plain", "wrong-serverkey"])
async def test_a_local_client_without_the_keys_cannot_execute_or_listen(default_policy, curve_keys):
    sub = await SubKernel.start("python3", kernel_id="curve-outsider")
    ctx = zmq.Context()
    try:
        info = sub.process.connection_info()
        shell, iopub = keyless_sockets(ctx, info, curve_keys)
        try:
            send_signed_execute(shell, info, "print('outsider')")
            # Output of silik's own cell is published meanwhile: the listener must not see it.
            assert await stdout_of(sub, "print('private')") == "private\n"
            assert heard_within(NO_ANSWER_WITHIN, shell, iopub) == []
            assert await stdout_of(sub, "print('still mine')") == "still mine\n"
        finally:
            shell.close()
            iopub.close()
    finally:
        ctx.term()
        await sub.shutdown(now=True)


async def test_disabled_starts_without_keys(monkeypatch):
    monkeypatch.setenv(ENV_ENCRYPTION, "disabled")
    process = await KernelProcess.start("python3", "curve-disabled")
    try:
        assert "curve_publickey" not in process.connection_info()
    finally:
        await process.stop(now=True)


@pytest.fixture
def plain_spec_dir(tmp_path):
    """A kernelspec that does not declare CurveZMQ support."""
    spec = tmp_path / "plain"
    spec.mkdir()
    native = KernelSpecManager().get_kernel_spec("python3")
    (spec / "kernel.json").write_text(
        json.dumps({"argv": native.argv, "display_name": "plain", "language": "python"})
    )
    return KernelSpecManager(kernel_dirs=[str(tmp_path)], ensure_native_kernel=False)


async def test_auto_starts_a_kernel_without_support_in_the_clear(default_policy, plain_spec_dir):
    process = await KernelProcess.start("plain", "curve-auto", kernel_spec_manager=plain_spec_dir)
    try:
        assert "curve_publickey" not in process.connection_info()
    finally:
        await process.stop(now=True)


async def test_required_refuses_a_kernel_without_support_and_says_why(monkeypatch, plain_spec_dir):
    monkeypatch.setenv(ENV_ENCRYPTION, "required")
    with pytest.raises(SilikError, match="'plain' does not declare CurveZMQ") as info:
        await KernelProcess.start("plain", "curve-req", kernel_spec_manager=plain_spec_dir)
    assert ENV_ENCRYPTION in (info.value.hint or "")


async def test_required_starts_a_kernel_with_support(monkeypatch):
    monkeypatch.setenv(ENV_ENCRYPTION, "required")
    process = await KernelProcess.start("python3", "curve-req-ok")
    try:
        assert process.connection_info()["curve_publickey"]
    finally:
        await process.stop(now=True)


async def test_a_misspelt_policy_says_what_to_type(monkeypatch):
    monkeypatch.setenv(ENV_ENCRYPTION, "on")
    with pytest.raises(SilikError, match=f"{ENV_ENCRYPTION}='on'") as info:
        await KernelProcess.start("python3", "curve-bad")
    assert "auto" in (info.value.hint or "") and "required" in (info.value.hint or "")


async def test_attaching_to_an_encrypted_kernel_uses_the_keys_of_its_file(tmp_path):
    km = KernelManager(kernel_name="python3", transport_encryption="required")
    km.connection_file = str(tmp_path / "kernel-outside.json")
    await asyncio.to_thread(km.start_kernel)
    try:
        sub = await SubKernel.attach(km.connection_file)
        try:
            assert await stdout_of(sub, "print('attached')") == "attached\n"
            assert await sub.is_alive()  # the heartbeat, encrypted too
        finally:
            await sub.close()
    finally:
        await asyncio.to_thread(km.shutdown_kernel, now=True)
