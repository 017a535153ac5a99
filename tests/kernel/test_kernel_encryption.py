"""silik under a Jupyter that requires CurveZMQ: its kernelspec declares support,
its own sockets take the keys, and the kernels it starts are encrypted too."""

from __future__ import annotations

import json
import os
import re

import pytest
import zmq
from conftest import KernelDriver, heard_within, keyless_sockets, send_signed_execute
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from silik_kernel.install import kernel_json
from silik_kernel.subkernels.process import ENV_ENCRYPTION


@pytest.fixture(scope="module")
def silik_required(tmp_path_factory):
    """silik started from the spec `python -m silik_kernel install` writes, by a
    KernelManager whose ``transport_encryption`` is ``required`` (its sub-kernels
    get silik's default policy, auto)."""
    kernels = tmp_path_factory.mktemp("kernels")
    (kernels / "silik-curve").mkdir()
    (kernels / "silik-curve" / "kernel.json").write_text(json.dumps(kernel_json()))
    km = KernelManager(
        kernel_name="silik-curve",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
        transport_encryption="required",
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_ENCRYPTION}
    driver = KernelDriver(km=km, env=env)
    try:
        yield driver
    finally:
        driver.shutdown()


def written_keys(connection_file: str) -> dict:
    with open(connection_file) as f:
        info = json.load(f)
    return {k: v for k, v in info.items() if k.startswith("curve_")}


def test_silik_starts_under_required_encryption_and_its_kernels_are_encrypted(silik_required):
    k = silik_required
    assert written_keys(k.km.connection_file)  # the manager provisioned silik's keys
    k.ok("new python3 -l k1")
    assert k.ok('run "print(6 * 7)" k1.py').stdout == "42\n"
    info = k.ok("info k1.py").text
    sub_file = re.search(r"^connection file:\s+(\S+)", info, re.M).group(1)
    assert written_keys(sub_file)
    assert "connected to ~/k1.py" in k.ok("> k1.py").stdout
    assert k.ok("print(6 * 7)").stdout == "42\n"
    k.ok("<")
    k.ok("stop k1.py")


def test_a_local_client_without_the_keys_gets_nothing_from_silik(silik_required):
    k = silik_required
    info = k.km.get_connection_info()
    ctx = zmq.Context()
    shell, iopub = keyless_sockets(ctx, info)
    try:
        send_signed_execute(shell, info, "tree")
        assert "~" in k.ok("pwd").stdout  # published while the outsider listens
        assert heard_within(1.0, shell, iopub) == []
    finally:
        shell.close()
        iopub.close()
        ctx.term()
