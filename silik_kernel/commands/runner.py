"""Running command lines: a cell's lines in order, and one line for a caller
without a frontend (an agent's `silik()` tool), whose output comes back as text."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

from silik_kernel.commands.parsing import split_lines
from silik_kernel.commands.registry import Context, Output, SubKernelError
from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.protocol.messages import output_text
from silik_kernel.subkernels.execution import ExecuteOptions


async def run_words(ctx: Context, words: list[str]) -> Output | None:
    """Run one command line, already split into words: the kernel and the agent bridge use this."""
    head = words[0]
    if head.startswith(">") and head != ">":
        words = [">", head[1:], *words[1:]]
    elif (head.startswith("<") and head != "<") or (head.startswith("/cmd") and head != "/cmd"):
        raise SilikError(f"unknown command {head!r}", hint="`/cmd` or `<` leave connect mode")
    cmd = ctx.registry.get(words[0])
    flags = words[1 : words.index("--")] if "--" in words else words[1:]  # `run -- --help k1.py`
    if "--help" in flags or "-h" in flags[:1]:
        return Output(cmd.help())
    result = cmd.handler(ctx, cmd.parse(words[1:]))
    if inspect.isawaitable(result):
        result = await result
    return Output(result) if isinstance(result, str) else result


class TextFrontend:
    """A frontend for commands run by agents: collects their output as plain text."""

    def __init__(self, manager: SilikManager) -> None:
        self.manager = manager
        self.parts: list[str] = []

    @property
    def connected_path(self) -> str | None:
        return None

    def print(self, text: str, name: str = "stdout") -> None:
        self.parts.append(text if text.endswith("\n") else text + "\n")

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.print(data.get("text/plain", ""))

    async def relay(self, path: str, code: str) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        async for channel, msg in self.manager.execute(path, code, ExecuteOptions()):
            if channel == "shell":
                reply = msg["content"]
            elif channel == "iopub":
                text = output_text(msg["header"]["msg_type"], msg["content"])
                if text:
                    self.parts.append(text)
        return reply

    def forward(self, msg: dict[str, Any]) -> None:
        text = output_text(msg["header"]["msg_type"], msg["content"])
        if text:
            self.parts.append(text)

    def running(self, path: str) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()  # no cell here, so no interrupt to pass on

    def enter_connect_mode(self, path: str) -> None:
        raise SilikError("connect mode is for people at a frontend", hint="use run_code instead")

    def leave_connect_mode(self) -> None:
        pass

    def request_exit(self) -> None:
        raise SilikError("exit is not available here", hint=None)


async def run_command_text(manager: SilikManager, registry: Any, line: str) -> str:
    """Run one silik command line and return everything it printed, as plain text."""
    lines = split_lines(line)
    if len(lines) != 1:
        raise SilikError("give exactly one silik command line", hint=None)
    front = TextFrontend(manager)
    try:
        out = await run_words(Context(manager, front, registry), lines[0].words)
    except SubKernelError:
        return "".join(front.parts) + "(the code raised an error, shown above)"
    if out is not None:
        front.print(out.text)
    return "".join(front.parts).rstrip("\n")
