"""One input spread over several kernels, and their output merged into one cell.

:func:`fan_out` runs the same code on several kernels at once, each read by
``Execution.drain`` (the one reading loop of every consumer), and yields what
the kernels send, tagged with their paths, in the order it arrives.
:class:`GroupedOutput` shows such a stream in a cell so that every output is
attributed to its kernel.
``broadcast`` is built from these two, and so can commands of your own be.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from silik_kernel.commands.frontend import Frontend
from silik_kernel.errors import SilikError
from silik_kernel.protocol.messages import OUTPUT_TYPES, output_text
from silik_kernel.subkernels.execution import ExecuteOptions, Message

if TYPE_CHECKING:
    from silik_kernel.manager import SilikManager

log = logging.getLogger("silik.fanout")


@dataclass(frozen=True)
class KernelOutput:
    """One output message (stream, display_data, execute_result, error...) of one kernel."""

    path: str
    msg: Message

    @property
    def msg_type(self) -> str:
        return self.msg["header"]["msg_type"]

    @property
    def content(self) -> dict[str, Any]:
        return self.msg["content"]

    @property
    def text(self) -> str:
        """Its plain-text face, without ANSI colours (tracebacks included)."""

        return output_text(self.msg_type, self.content)


@dataclass(frozen=True)
class KernelDone:
    """The end of the run on one kernel: always the last event of that kernel."""

    path: str
    #: The kernel's execute_reply content; made up (status "error") when the kernel
    #: could not answer, e.g. it died meanwhile.
    reply: dict[str, Any]
    seconds: float  # from sending the code to the kernel being idle again

    @property
    def status(self) -> str:
        return self.reply.get("status", "error")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ename(self) -> str | None:
        """The error's name ("ZeroDivisionError", "KernelDied", "aborted"); None if ok."""
        if self.ok:
            return None
        if self.status == "aborted":
            return "aborted"
        return self.reply.get("ename") or "Error"

    @property
    def error(self) -> str | None:
        """``ename: evalue`` for a failed run; None if ok."""
        ename = self.ename
        evalue = self.reply.get("evalue")
        return f"{ename}: {evalue}" if ename and evalue else ename


Running = Callable[[str], AbstractContextManager[Any]]


async def fan_out(
    manager: SilikManager,
    paths: Iterable[str],
    code: str,
    options: ExecuteOptions | None = None,
    *,
    running: Running | None = None,
) -> AsyncIterator[KernelOutput | KernelDone]:
    """Run ``code`` on every kernel in ``paths`` concurrently; yield events as they arrive.

    Every kernel is checked first: a missing, starting or dead one raises
    SilikError and nothing runs. Then each kernel yields its KernelOutput events
    and exactly one KernelDone, also when it fails or dies. Paths in events are
    absolute. ``running(path)`` is entered around each kernel's run (the kernel
    uses it to interrupt every running target). No kernel can ask for input:
    ``allow_stdin`` is always off. Leaving the loop early stops listening but
    does not interrupt the kernels.
    """
    targets = list(dict.fromkeys(manager.record(p).entry.path for p in paths))
    for path in targets:
        manager.subkernel(path)  # refuses starting or dead kernels before anything runs
    opts = replace(options or ExecuteOptions(), allow_stdin=False)
    queue: asyncio.Queue[KernelOutput | KernelDone] = asyncio.Queue()

    async def run_one(path: str) -> None:
        def on_iopub(msg: Message) -> None:
            if msg["header"]["msg_type"] in OUTPUT_TYPES:
                queue.put_nowait(KernelOutput(path, msg))

        started = time.monotonic()
        reply: dict[str, Any]
        try:
            with running(path) if running is not None else nullcontext():
                run = await manager.begin_execute(path, code, opts)
                reply = await run.drain(on_iopub)
        except SilikError as exc:
            reply = {"status": "error", "ename": exc.ename, "evalue": exc.message}
        except Exception as exc:  # one kernel's trouble must not hang the others' events
            log.exception("running code on %s", path)
            reply = {"status": "error", "ename": type(exc).__name__, "evalue": str(exc)}
        queue.put_nowait(KernelDone(path, reply, time.monotonic() - started))

    tasks = [asyncio.ensure_future(run_one(p)) for p in targets]
    left = len(tasks)
    try:
        while left:
            event = await queue.get()
            if isinstance(event, KernelDone):
                left -= 1
            yield event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class GroupedOutput:
    """Shows fan_out's events in a cell, each output under the path of its kernel.

    Outputs are forwarded as they arrive, unchanged. A ``── PATH ──`` line comes
    first, and again whenever the next output is from another kernel, so
    interleaved output stays attributed. A kernel that fails without showing an
    error (it died, or its run was aborted) gets its reason on stderr.
    ``clear_output`` is dropped: it would erase the other kernels' output too.
    """

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend
        self.current: str | None = None  # the kernel whose header was shown last
        self._line_open = False  # the last stream text did not end its line
        self._errors_shown: set[str] = set()

    def show(self, event: KernelOutput | KernelDone) -> None:
        if isinstance(event, KernelDone):
            if not event.ok and event.path not in self._errors_shown:
                self._under(event.path)
                self.frontend.print(event.error or "failed", "stderr")
            return
        if event.msg_type == "clear_output":
            return
        self._under(event.path)
        self.frontend.forward(event.msg)
        if event.msg_type == "stream":
            text = event.content.get("text", "")
            if text:  # an empty stream message leaves the line as it was
                self._line_open = not text.endswith("\n")
        else:
            self._line_open = False
        if event.msg_type == "error":
            self._errors_shown.add(event.path)

    def line(self, text: str, name: str = "stdout") -> None:
        """A line of the command's own, after the kernels' output (a summary)."""
        self.frontend.print(("\n" if self._line_open else "") + text, name)
        self._line_open = False
        self.current = None

    def _under(self, path: str) -> None:
        if path == self.current:
            return
        self.line(f"── {path} ──")
        self.current = path


def summary(done: Iterable[KernelDone], seconds: float) -> str:
    """One line: which kernels succeeded and which failed, and why in a word."""
    results = list(done)
    ok = [d.path for d in results if d.ok]
    failed = [f"{d.path}: {d.ename}" for d in results if not d.ok]
    parts = [f"{len(ok)} ok" + (f" ({', '.join(ok)})" if ok else "")]
    if failed:
        parts.append(f"{len(failed)} failed ({'; '.join(failed)})")
    return f"── {', '.join(parts)} in {seconds:.2f} s"
