"""The "Session" commands: help, connect mode, exit, and files of silik commands."""

from __future__ import annotations

import os
from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Arg
from silik_kernel.commands.frontend import Output
from silik_kernel.commands.parsing import split_lines
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import SilikError

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
    examples=["source setup.silik"],
)
async def _source(ctx: Context, values: dict[str, Any]) -> None:
    text = _read_text(values["file"])
    assert ctx.run_lines is not None
    try:
        lines = split_lines(text)
    except SilikError as exc:
        raise SilikError(f"{values['file']}: {exc.message}", exc.hint) from None
    await ctx.run_lines(lines, values["file"])


@command(
    "cat",
    "Print a text file.",
    args=[Arg("file", "the file to print", kind="file")],
)
async def _cat(ctx: Context, values: dict[str, Any]) -> Output:
    return Output(_read_text(values["file"]).rstrip("\n"))


def _read_text(path: str) -> str:
    full = os.path.expanduser(path)
    try:
        with open(full, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise SilikError(
            f"no such file: {path}", hint=f"the current directory is {os.getcwd()}"
        ) from None
    except IsADirectoryError:
        raise SilikError(f"{path} is a directory, not a file", hint=None) from None
    except UnicodeDecodeError:
        raise SilikError(f"{path} is not a UTF-8 text file", hint=None) from None
    except OSError as exc:
        raise SilikError(f"cannot read {path}: {exc.strerror}", hint=None) from None
