"""Bad input to commands is a user error with a clear message, never a hang or an
internal error. Commands run against a real SilikManager with no kernel started."""

from __future__ import annotations

import os

import pytest

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.builtin.session import MAX_FILE_BYTES
from silik_kernel.commands.runner import (
    MAX_SOURCE_NESTING,
    CellRunner,
    LineFailed,
    TextFrontend,
    plan_cell,
    run_command_text,
)
from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.starter import MAX_START_COUNT

pytestmark = pytest.mark.timeout(30)  # before the fixes, some of these hung for good


@pytest.fixture
def manager() -> SilikManager:
    return SilikManager()


async def fails(manager: SilikManager, line: str) -> SilikError:
    with pytest.raises(SilikError) as info:
        await run_command_text(manager, BUILTIN_COMMANDS, line)
    return info.value


async def run_cell(manager: SilikManager, code: str) -> TextFrontend:
    front = TextFrontend(manager)
    runner = CellRunner(manager, front, BUILTIN_COMMANDS, lambda: False)
    await runner.run(plan_cell(BUILTIN_COMMANDS, code))
    return front


@pytest.mark.parametrize("command", ["cat", "source"])
async def test_a_null_byte_in_a_file_name_is_a_user_error(manager, command):
    exc = await fails(manager, f'{command} "a\\x00b"'.replace("\\x00", "\x00"))
    assert "null" in exc.message and "internal" not in exc.message


@pytest.mark.parametrize("command", ["cat", "source"])
async def test_a_fifo_is_refused_at_once(manager, tmp_path, command):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    exc = await fails(manager, f"{command} {fifo}")
    assert exc.message == f"{fifo} is not a regular file (it is a FIFO)"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
async def test_a_device_is_refused(manager, device):
    exc = await fails(manager, f"cat {device}")
    assert "not a regular file" in exc.message and "device" in exc.message


async def test_cat_prints_a_file_up_to_the_limit_and_refuses_a_bigger_one(manager, tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("x" * MAX_FILE_BYTES)
    assert await run_command_text(manager, BUILTIN_COMMANDS, f"cat {small}") == "x" * MAX_FILE_BYTES
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: no disk used
    exc = await fails(manager, f"cat {big}")
    assert exc.message == f"{big} is 200.0 MiB; cat reads files of at most 1 MiB"
    assert exc.hint


async def test_source_refuses_a_file_over_the_limit_and_runs_none_of_it(manager, tmp_path):
    script = tmp_path / "setup.silik"
    script.write_text("mkdir made\n" + "# padding\n" * (MAX_FILE_BYTES // 10))
    exc = await fails(manager, f"source {script}")
    assert "source reads files of at most 1 MiB" in exc.message
    assert manager.tree.root.children == {}


async def test_a_file_that_sources_itself_is_refused_with_a_message_about_nesting(
    manager, tmp_path
):
    loop = tmp_path / "loop.silik"
    loop.write_text(f"mkdir -p ~/seen\nsource {loop}\n")
    with pytest.raises(LineFailed) as info:
        await run_cell(manager, f"source {loop}")
    message = info.value.error.message
    assert "internal" not in message
    assert f"`source` nests at most {MAX_SOURCE_NESTING} files deep" in message
    assert info.value.error.hint and "source itself" in info.value.error.hint


async def test_source_nests_below_the_limit(manager, tmp_path):
    inner = tmp_path / "inner.silik"
    inner.write_text("mkdir inner\n")
    outer = tmp_path / "outer.silik"
    outer.write_text(f"mkdir outer\nsource {inner}\n")
    await run_cell(manager, f"source {outer}")
    assert sorted(manager.tree.root.children) == ["inner", "outer"]


async def test_source_without_a_cell_is_a_user_error(manager, tmp_path):
    script = tmp_path / "s.silik"
    script.write_text("pwd\n")
    exc = await fails(manager, f"source {script}")
    assert "source" in exc.message and "internal" not in exc.message


async def test_new_refuses_a_count_past_the_maximum_at_once(manager):
    exc = await fails(manager, "new python3 -n 1000000000")
    assert exc.message == f"new: -n must be between 1 and {MAX_START_COUNT}"
    assert manager.tree.root.children == {}


async def test_new_refuses_too_many_labels(manager):
    labels = " ".join(f"k{i}" for i in range(MAX_START_COUNT + 1))
    exc = await fails(manager, f"new python3 -l {labels}")
    assert f"at most {MAX_START_COUNT} kernels" in exc.message
    assert manager.tree.root.children == {}


async def test_mkdir_of_a_deep_path_or_a_huge_name_is_a_clear_error(manager):
    exc = await fails(manager, "mkdir -p " + "/".join(["d"] * 1000))
    assert "deep" in exc.message
    exc = await fails(manager, "mkdir " + "n" * 1_000_000)
    assert "too long" in exc.message
    assert manager.tree.root.children == {}


async def test_a_directory_is_refused_and_its_descriptor_closed(manager, tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    exc = await fails(manager, f"cat {tmp_path}")
    assert exc.message == f"{tmp_path} is not a regular file (it is a directory)"
    assert len(os.listdir("/proc/self/fd")) == before
