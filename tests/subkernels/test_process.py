"""KernelProcess and read_connection_file: starting a kernel, and finding one to attach to."""

from __future__ import annotations

import json
import os

import pytest

from silik_kernel.errors import SilikError
from silik_kernel.subkernels.process import KernelProcess, read_connection_file


async def test_a_started_kernel_has_findable_files_that_stop_removes():
    process = await KernelProcess.start("python3", "proc-test")
    try:
        assert process.language == "python"
        assert process.pid is not None
        assert await process.km.is_alive()
        info = process.connection_info()
        assert info["shell_port"] and "key" in info
        assert os.path.basename(process.km.connection_file) == "kernel-silik-proc-test.json"
        assert os.path.exists(process.log_path)
        assert "TCP without encryption" not in process.log_tail()
    finally:
        connection_file, log_path = process.km.connection_file, process.log_path
        await process.stop(now=True)
    assert not os.path.exists(connection_file)
    assert not os.path.exists(log_path)
    assert not await process.km.is_alive()


async def test_an_unknown_kernelspec_says_what_to_type():
    with pytest.raises(SilikError, match="unknown kernelspec 'no-such-kernel'") as info:
        await KernelProcess.start("no-such-kernel", "x")
    assert "`kernels`" in (info.value.hint or "")


def test_connection_files_that_are_not_one_say_so(tmp_path):
    good = tmp_path / "kernel-1.json"
    good.write_text(json.dumps({"shell_port": 1, "key": "k"}))
    assert read_connection_file(str(good))["shell_port"] == 1
    with pytest.raises(SilikError, match="cannot read connection file"):
        read_connection_file(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SilikError, match="is not a JSON connection file"):
        read_connection_file(str(bad))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "x"}))
    with pytest.raises(SilikError, match="is not a kernel connection file"):
        read_connection_file(str(other))
