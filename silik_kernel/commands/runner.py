"""Running command lines.

A cell is split and parsed once, into a plan (:func:`plan_cell`): one
:class:`PlannedLine` per line, holding its command and argument values, or the
error to report when that line's turn comes. Every path runs plans: the
kernel's cells, `source`, and one line for a caller without a frontend (an
agent's `silik()` tool), whose output comes back as text (:func:`run_command_text`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from silik_kernel.commands.builtin.kernels import run_on_kernel
from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Command
from silik_kernel.commands.frontend import Frontend, Output, SubKernelError
from silik_kernel.commands.parsing import Line, split_lines
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.protocol.messages import output_text

log = logging.getLogger("silik.runner")

MAX_SOURCE_NESTING = 16
"""How deep `source` may nest files: deeper is almost surely a file sourcing itself."""


@dataclass(frozen=True)
class PlannedLine:
    """One command line, parsed: its command and values, or why it cannot run."""

    line: Line
    command: Command | None = None
    values: dict[str, Any] | None = None
    wants_help: bool = False
    error: SilikError | None = None

    @property
    def plain_run(self) -> tuple[str, str] | None:
        """(path, code) when this line is the built-in `run CODE PATH` with no
        options: a run the kernel may send as the cell arrives."""
        cmd, values = self.command, self.values
        if cmd is None or values is None or self.wants_help or cmd.handler is not run_on_kernel:
            return None
        return values["path"], values["code"]


def plan_words(
    registry: CommandRegistry, words: Sequence[str], line: Line | None = None
) -> PlannedLine:
    """Parse one line's words (``line`` is where they came from, for messages)."""
    words = list(words)
    line = line or Line(words, " ".join(words), 1)
    head = words[0]
    if head.startswith(">") and head != ">":
        words = [">", head[1:], *words[1:]]
    elif (head.startswith("<") and head != "<") or (head.startswith("/cmd") and head != "/cmd"):
        error = SilikError(f"unknown command {head!r}", hint="`/cmd` or `<` leave connect mode")
        return PlannedLine(line, error=error)
    try:
        cmd = registry.get(words[0])
        flags = (
            words[1 : words.index("--")] if "--" in words else words[1:]
        )  # `run -- --help k1.py`
        if "--help" in flags or "-h" in flags[:1]:
            return PlannedLine(line, cmd, wants_help=True)
        return PlannedLine(line, cmd, cmd.parse(words[1:]))
    except SilikError as exc:
        return PlannedLine(line, error=exc)


def plan_cell(registry: CommandRegistry, code: str) -> list[PlannedLine]:
    """A cell's plan; raises UnterminatedQuote (a SilikError) for a cell that
    cannot be split into lines."""
    return [plan_words(registry, line.words, line) for line in split_lines(code)]


async def run_planned(ctx: Context, planned: PlannedLine) -> Output | None:
    """Run one planned line: its result, or the error it was planned with."""
    if planned.error is not None:
        raise planned.error
    cmd = planned.command
    assert cmd is not None
    if planned.wants_help:
        return Output(cmd.help())
    result = cmd.handler(ctx, planned.values or {})
    if inspect.isawaitable(result):
        result = await result
    return Output(result) if isinstance(result, str) else result


async def run_words(ctx: Context, words: list[str]) -> Output | None:
    """Run one command line, already split into words."""
    return await run_planned(ctx, plan_words(ctx.registry, words))


class LineFailed(Exception):
    """A line of a cell failed and the cell stops there.

    ``error`` is what the cell reports; ``content`` is a sub-kernel's own error
    content (already shown in the cell by the relay) when the failure is the
    code's, not silik's.
    """

    def __init__(
        self, error: SilikError, *, ename: str | None = None, content: dict | None = None
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.ename = ename or error.ename
        self.content = content


class CellRunner:
    """Runs a cell's planned lines in order; the first failure stops the rest
    (:class:`LineFailed`). ``interrupted()`` says the cell was interrupted: no
    further line starts. A line that enters or leaves connect mode ends the cell.
    """

    def __init__(
        self,
        manager: SilikManager,
        frontend: Frontend,
        registry: CommandRegistry,
        interrupted: Callable[[], bool],
    ) -> None:
        self.registry = registry
        self.frontend = frontend
        self.interrupted = interrupted
        self.context = Context(manager, frontend, registry, run_lines=self.run_source)
        self.sourcing: list[str] = []  # the files `source` is running, outermost first

    async def run_source(self, lines: list[Line], origin: str) -> None:
        """The lines of a file run by `source` (``origin`` names it in errors)."""
        if len(self.sourcing) >= MAX_SOURCE_NESTING:
            raise SilikError(
                f"`source` nests at most {MAX_SOURCE_NESTING} files deep: "
                f"{' -> '.join([*self.sourcing[:3], '...', origin])}",
                hint="does a file source itself, or two files each other?",
            )
        self.sourcing.append(origin)
        try:
            # Each line is planned as its turn comes: planning a long file at once
            # would hold the loop (and an interrupt) for seconds.
            plan = (plan_words(self.registry, line.words, line) for line in lines)
            await self._run_lines(plan, origin, True)
        finally:
            self.sourcing.pop()

    async def run(self, plan: Sequence[PlannedLine], origin: str | None = None) -> None:
        await self._run_lines(plan, origin, len(plan) > 1 or origin is not None)

    async def _run_lines(self, plan: Iterable[PlannedLine], origin: str | None, many: bool) -> None:
        for planned in plan:
            if many:
                # Lines that never wait would hold the loop for the whole file:
                # give an interrupt its turn between lines.
                await asyncio.sleep(0)
            if self.interrupted():
                raise LineFailed(SilikError("interrupted", hint=None), ename="KeyboardInterrupt")
            mode = self.frontend.connected_path
            await self._run_line(planned, origin if many else None, many)
            if self.frontend.connected_path != mode:
                return

    async def _run_line(self, planned: PlannedLine, origin: str | None, many: bool) -> None:
        line = planned.line
        try:
            out = await run_planned(self.context, planned)
        except SubKernelError as exc:
            raise LineFailed(exc, content=exc.content) from None
        except SilikError as exc:
            if many:
                where = f"{origin} line {line.number}" if origin else f"line {line.number}"
                renamed = SilikError(f"{where}: `{_short(line.text)}`: {exc.message}", exc.hint)
                raise LineFailed(renamed, ename=exc.ename) from None
            raise LineFailed(exc) from None
        except (LineFailed, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.error("internal error running %r", line.text, exc_info=True)
            err = SilikError.internal(exc, f" while running `{_short(line.text)}`")
            raise LineFailed(err) from None
        if out is not None and (out.text or out.html):
            self.context.show(out)


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        run = await self.manager.begin_execute(path, code)
        return await run.drain(self.forward)

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


async def run_command_text(
    manager: SilikManager,
    registry: CommandRegistry,
    line: str,
    check: Callable[[PlannedLine], None] | None = None,
) -> str:
    """Run one silik command line and return everything it printed, as plain text.

    ``check`` sees the parsed line first and raises to refuse it (an agent's policy).
    """
    plan = plan_cell(registry, line)
    if len(plan) != 1:
        raise SilikError("give exactly one silik command line", hint=None)
    if check is not None:
        check(plan[0])
    front = TextFrontend(manager)
    try:
        out = await run_planned(Context(manager, front, registry), plan[0])
    except SubKernelError:
        return "".join(front.parts) + "(the code raised an error, shown above)"
    if out is not None:
        front.print(out.text)
    return "".join(front.parts).rstrip("\n")
