"""The "Session" commands: help, connect mode, exit, and files of silik commands."""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Arg
from silik_kernel.commands.frontend import Output
from silik_kernel.commands.parsing import split_lines
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import SilikError

MAX_FILE_BYTES = 1024 * 1024
"""What `cat` and `source` read at most: more is no use in a cell's output."""

_MIB = MAX_FILE_BYTES // 2**20

commands = CommandRegistry("Session")
command = commands.command


@command(
    "help",
    "Show the commands, or one command's arguments.",
    args=[Arg("command", "the command to explain", kind="command", nargs="?")],
    examples=["help", "help new"],
)
async def _help(ctx: Context, values: dict[str, Any]) -> Output:
    if values["command"]:
        return Output(ctx.registry.get(values["command"]).help())
    return Output(ctx.registry.overview())


@command(
    "exit",
    "Ask the frontend to close (jupyter console quits; notebooks ignore it).",
    aliases=("quit",),
)
async def _exit(ctx: Context, values: dict[str, Any]) -> None:
    ctx.frontend.request_exit()


@command(
    "connect",
    "Enter connect mode: every following cell goes to this kernel, until `/cmd`.",
    args=[Arg("path", "the kernel to talk to", kind="kernel")],
    aliases=(">",),
    details=(
        "In connect mode silik relays everything (output, errors, input(), completion,\n"
        "inspection, interrupts, widgets) to and from the kernel. A cell that is exactly\n"
        "`/cmd` or `<` returns to command mode; a cell starting with `/cmd ` runs the rest\n"
        "of the line as one silik command without leaving connect mode."
    ),
    examples=["> k1.py", "connect ~/work/k1.py"],
)
async def _connect(ctx: Context, values: dict[str, Any]) -> Output:
    rec = ctx.manager.record(values["path"])
    ctx.manager.subkernel(values["path"])  # refuses dead or starting kernels
    ctx.frontend.enter_connect_mode(rec.entry.path)
    return Output(f"connected to {rec.entry.path}; `/cmd` returns to silik commands")


@command(
    "cmd",
    "Leave connect mode and return to silik commands.",
    aliases=("<", "/cmd"),
)
async def _cmd(ctx: Context, values: dict[str, Any]) -> Output:
    was = ctx.frontend.connected_path
    ctx.frontend.leave_connect_mode()
    return Output(f"left {was}; back to silik commands" if was else "already in command mode")


@command(
    "source",
    "Run a file of silik commands, line by line; stops at the first failing line.",
    args=[Arg("file", "a text file of silik commands", kind="file")],
    details=f"The file is at most {_MIB} MiB; files may source others, at most 16 deep.",
    examples=["source setup.silik"],
)
async def _source(ctx: Context, values: dict[str, Any]) -> None:
    text = await _read_text(values["file"], "source")
    if ctx.run_lines is None:
        raise SilikError("source runs in a silik cell only", hint="run its lines one by one")
    try:
        # In a thread: splitting a long file takes long enough to delay an interrupt.
        lines = await asyncio.to_thread(split_lines, text)
    except SilikError as exc:
        raise SilikError(f"{values['file']}: {exc.message}", exc.hint) from None
    await ctx.run_lines(lines, values["file"])


@command(
    "cat",
    f"Print a text file (of at most {_MIB} MiB).",
    args=[Arg("file", "the file to print", kind="file")],
)
async def _cat(ctx: Context, values: dict[str, Any]) -> Output:
    return Output((await _read_text(values["file"], "cat")).rstrip("\n"))


_NOT_REGULAR = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


async def _read_text(path: str, command: str) -> str:
    """A regular file's text, read in a thread so that slow storage never blocks
    silik's loop (an interrupt still ends the cell)."""
    if "\0" in path:
        raise SilikError(f"{path!r} is not a file name: it holds a null character", hint=None)
    data = await asyncio.to_thread(_read_bytes, path, command)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SilikError(f"{path} is not a UTF-8 text file", hint=None) from None


def _read_bytes(path: str, command: str) -> bytes:
    full = os.path.expanduser(path)
    try:
        # O_NONBLOCK: opening a FIFO waits for a writer otherwise, and reads of a
        # regular file ignore it.
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SilikError(
            f"no such file: {path}", hint=f"the current directory is {os.getcwd()}"
        ) from None
    except OSError as exc:
        raise SilikError(f"cannot read {path}: {exc.strerror}", hint=None) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = _NOT_REGULAR.get(stat.S_IFMT(info.st_mode), "not a file")
        raise SilikError(f"{path} is not a regular file (it is {kind})", hint=None)
    size = info.st_size
    with os.fdopen(fd, "rb") as f:
        data = b"" if size > MAX_FILE_BYTES else f.read(MAX_FILE_BYTES + 1)
        if size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
            raise SilikError(
                f"{path} is {max(size, len(data)) / 2**20:.1f} MiB; "
                f"{command} reads files of at most {_MIB} MiB",
                hint=f'split it, or read a part with a kernel: run "print(open({path!r}).read(2000))" k1.py',
            )
        return data
