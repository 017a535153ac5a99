"""ManagerService: the SilikManager as JSON-able operations.

The one surface agents use, locally (an agent kernel that owns its manager) or
through the bridge (an agent kernel started by a parent silik). Both call the
same methods, so behaviour cannot differ between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .errors import KernelDiedError, SilikError
from .manager import SilikManager
from .subkernel import ExecuteOptions
from .tree import Folder, KernelEntry

STREAM_OPS = frozenset({"run_code"})
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"}
)


class ServiceError(Exception):
    """An operation failed in a way the caller (often an LLM) should react to."""

    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "hint": self.hint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceError:
        return cls(data.get("kind", "error"), data.get("message", ""), data.get("hint"))


def _wrap(exc: SilikError) -> ServiceError:
    kind = "dead" if isinstance(exc, KernelDiedError) else "invalid"
    return ServiceError(kind, exc.message, exc.hint)


class ManagerService:
    """Operations by name on one SilikManager."""

    def __init__(
        self,
        manager: SilikManager,
        run_command: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.manager = manager
        self._run_command = run_command  # runs one silik command line, returns its text

    def is_stream(self, op: str) -> bool:
        return op in STREAM_OPS

    def _caller_name(self, caller: str) -> str:
        rec = self.manager.records.get(caller)
        if rec is not None and rec.entry.parent is not None:
            return rec.entry.path
        return caller or "agent"

    async def call(self, op: str, args: dict[str, Any], *, caller: str = "") -> Any:
        method = getattr(self, f"op_{op}", None)
        if method is None or op in STREAM_OPS:
            raise ServiceError("invalid", f"unknown operation {op!r}")
        try:
            return await method(caller=caller, **args)
        except SilikError as exc:
            raise _wrap(exc) from None
        except TypeError as exc:
            raise ServiceError("invalid", f"bad arguments for {op}: {exc}") from None

    async def stream(
        self, op: str, args: dict[str, Any], *, caller: str = ""
    ) -> AsyncIterator[dict[str, Any]]:
        if op != "run_code":
            raise ServiceError("invalid", f"unknown streaming operation {op!r}")
        try:
            async for event in self.run_code(caller=caller, **args):
                yield event
        except SilikError as exc:
            raise _wrap(exc) from None

    # -- operations ----------------------------------------------------------
    async def op_list_kernelspecs(self, *, caller: str = "") -> list[dict[str, str]]:
        return [
            {"name": s.name, "display_name": s.display_name, "language": s.language}
            for s in self.manager.kernelspecs()
        ]

    async def op_list_tree(self, path: str = "~", *, caller: str = "") -> list[dict[str, Any]]:
        node = self.manager.tree.resolve(path)
        nodes = [node] if isinstance(node, KernelEntry) else [node, *node.walk()]
        out: list[dict[str, Any]] = []
        me = self._caller_name(caller)
        for n in nodes:
            if isinstance(n, Folder):
                out.append({"path": n.path, "type": "folder"})
                continue
            rec = self.manager.record_of(n)
            out.append(
                {
                    "path": n.path,
                    "type": "kernel",
                    "kernelspec": rec.spec_name,
                    "status": rec.status,
                    "started_by": rec.started_by,
                    "started_by_you": rec.started_by == me,
                    "where": f"remote:{rec.remote_host}" if rec.remote_host else "local",
                }
            )
        return out

    async def op_start_kernel(
        self, kernelspec: str, label: str, folder: str = "~", *, caller: str = ""
    ) -> dict[str, str]:
        self.manager.tree.mkdir(folder, parents=True) if folder not in ("~", ".") else None
        entries = await self.manager.start(
            kernelspec, [label], folder=folder, started_by=self._caller_name(caller)
        )
        return {"path": entries[0].path}

    async def op_interrupt_kernel(self, path: str, *, caller: str = "") -> str:
        await self.manager.interrupt(path)
        return f"interrupted {self.manager.record(path).entry.path}"

    async def op_restart_kernel(self, path: str, *, caller: str = "") -> str:
        entry = await self.manager.restart(path)
        return f"restarted {entry.path}; its state is gone"

    async def op_stop_kernel(self, path: str, *, caller: str = "") -> str:
        stopped = await self.manager.stop([path])
        return f"stopped {', '.join(stopped)}"

    async def op_kernel_history(self, path: str, n: int = 10, *, caller: str = "") -> list[str]:
        items = await self.manager.history(path, n=n)
        return [str(item[2]) for item in items]

    async def op_kernel_owner(self, path: str, *, caller: str = "") -> dict[str, Any]:
        rec = self.manager.record(path)
        return {"started_by": rec.started_by, "you": self._caller_name(caller)}

    async def op_silik(self, command: str, *, caller: str = "") -> str:
        if self._run_command is None:
            raise ServiceError("invalid", "silik commands are not available here")
        return await self._run_command(command)

    async def run_code(
        self, path: str, code: str, timeout: float = 60.0, *, caller: str = ""
    ) -> AsyncIterator[dict[str, Any]]:
        """Output events as they come, then one ``result`` event.

        On timeout the kernel is interrupted and the output so far is kept;
        stdin is not available to agents (input() raises in the kernel).
        """
        rec = self.manager.record(path)
        started = time.monotonic()
        timed_out = False
        reply: dict[str, Any] = {}
        stream = self.manager.execute(path, code, ExecuteOptions(allow_stdin=False))
        deadline = started + max(float(timeout), 0.1)
        interrupted_at: float | None = None
        it = stream.__aiter__()
        pending: asyncio.Future | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(it.__anext__())
                wait = deadline - time.monotonic()
                if interrupted_at is not None:
                    wait = interrupted_at + 5 - time.monotonic()
                # asyncio.wait, not wait_for: a timeout must not cancel the stream.
                done, _ = await asyncio.wait({pending}, timeout=max(wait, 0.01))
                if not done:
                    if interrupted_at is not None:
                        break  # the interrupt did not end it either; stop waiting
                    timed_out = True
                    interrupted_at = time.monotonic()
                    await self.manager.interrupt(path)
                    continue
                fut, pending = pending, None
                try:
                    channel, msg = fut.result()
                except StopAsyncIteration:
                    break
                if channel == "shell":
                    reply = msg["content"]
                elif channel == "iopub" and msg["header"]["msg_type"] in OUTPUT_TYPES:
                    yield {
                        "kind": "output",
                        "msg_type": msg["header"]["msg_type"],
                        "content": msg["content"],
                    }
        finally:
            if pending is not None:
                pending.cancel()
                try:
                    await pending
                except BaseException:
                    pass
            await it.aclose()
        yield {
            "kind": "result",
            "data": {
                "path": rec.entry.path,
                "status": reply.get("status", "timeout" if timed_out else "unknown"),
                "execution_count": reply.get("execution_count"),
                "ename": reply.get("ename"),
                "evalue": reply.get("evalue"),
                "traceback": reply.get("traceback"),
                "timed_out": timed_out,
                "seconds": round(time.monotonic() - started, 3),
            },
        }


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
    from .commands import Context, SubKernelError, run_words
    from .parsing import split_lines

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


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def output_text(msg_type: str, content: dict[str, Any]) -> str:
    """The plain-text face of one iopub output message (no ANSI codes)."""
    if msg_type == "stream":
        return strip_ansi(content.get("text", ""))
    if msg_type in ("execute_result", "display_data", "update_display_data"):
        text = content.get("data", {}).get("text/plain", "")
        return strip_ansi(text) + "\n" if text else ""
    if msg_type == "error":
        tb = content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
        return strip_ansi("\n".join(tb)) + "\n"
    return ""
