"""ManagerService: the SilikManager as JSON-able operations.

The one surface agents use, locally (an agent kernel that owns its manager) or
through the bridge (an agent kernel started by a parent silik). Both call the
same methods, so behaviour cannot differ between the two.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from typing import Any, get_type_hints

from silik_kernel.agent_policy import USER, Caller, ToolPolicy
from silik_kernel.asking import AskUser, Delegations, ask_turn, request_metadata
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.commands.runner import PlannedLine, run_command_text
from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.policy_guard import PolicyDenied, PolicyGuard
from silik_kernel.protocol.messages import OUTPUT_TYPES
from silik_kernel.subkernels.execution import ExecuteOptions, Message
from silik_kernel.timed_runs import Emit, Ended, timed_run
from silik_kernel.tree import Folder, KernelEntry

STREAM_OPS = frozenset({"run_code", "ask_agent"})
INTERRUPT_GRACE = 5.0  # seconds a timed-out run gets to end after its interrupt


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


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _check_args(op: str, method: Callable[..., Any], args: dict[str, Any]) -> None:
    """Refuse arguments ``method`` does not take, lacks, or gets in the wrong JSON
    type, naming the argument: a caller's mistake, never an internal error."""
    params = {
        name: p
        for name, p in inspect.signature(method).parameters.items()
        if p.kind is p.POSITIONAL_OR_KEYWORD
    }
    hints = get_type_hints(method)
    known = ", ".join(params) or "no arguments"
    for name, value in args.items():
        if name not in params:
            raise ServiceError("invalid", f"{op}: unknown argument {name!r}", f"it takes: {known}")
        wanted = hints.get(name)
        if wanted not in _TYPE_NAMES:
            continue
        ok = isinstance(value, wanted) and not (wanted is not bool and isinstance(value, bool))
        if wanted is float:  # JSON has one number type
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ServiceError(
                "invalid",
                f"{op}: argument {name!r} must be {_TYPE_NAMES[wanted]}, not {type(value).__name__}",
                f"it takes: {known}",
            )
    missing = [n for n, p in params.items() if p.default is p.empty and n not in args]
    if missing:
        raise ServiceError(
            "invalid", f"{op}: missing argument {missing[0]!r}", f"it takes: {known}"
        )


def _wrap(exc: SilikError) -> ServiceError:
    kind = "dead" if isinstance(exc, KernelDiedError) else "invalid"
    return ServiceError(kind, exc.message, exc.hint)


@contextmanager
def _as_service_errors() -> Iterator[None]:
    """A refusal or a user error, as the ServiceError a client gets."""
    try:
        yield
    except PolicyDenied as exc:
        raise ServiceError("denied", exc.message) from None
    except SilikError as exc:
        raise _wrap(exc) from None


class ManagerService:
    """Operations by name on one SilikManager, each caller held to its policy.

    ``commands`` are the silik commands the ``silik`` operation runs (None: none).
    """

    def __init__(self, manager: SilikManager, commands: CommandRegistry | None = None) -> None:
        self.manager = manager
        self.commands = commands
        self.guard = PolicyGuard(manager)
        self.delegations = Delegations()

    def is_stream(self, op: str) -> bool:
        return op in STREAM_OPS

    async def call(self, op: str, args: dict[str, Any], *, caller: Caller = USER) -> Any:
        method = getattr(self, f"op_{op}", None)
        if method is None or op in STREAM_OPS:
            raise ServiceError("invalid", f"unknown operation {op!r}")
        _check_args(op, method, args)
        with _as_service_errors():
            self.guard.enter(caller)
            return await method(caller=caller, **args)

    async def stream(
        self, op: str, args: dict[str, Any], *, caller: Caller = USER, ask: AskUser | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """A streaming op's events; ``ask`` answers the input requests of ask_agent's
        asked kernel (None: it runs without stdin)."""
        if op not in STREAM_OPS:
            raise ServiceError("invalid", f"unknown streaming operation {op!r}")
        method = getattr(self, op)
        _check_args(op, method, args)
        extra = {"ask": ask} if op == "ask_agent" else {}
        with _as_service_errors():
            self.guard.enter(caller)
            async for event in method(caller=caller, **args, **extra):
                yield event

    # -- operations ----------------------------------------------------------
    async def op_list_kernelspecs(self, *, caller: Caller = USER) -> list[dict[str, str]]:
        return [
            {
                "name": s.name,
                "display_name": s.display_name,
                "language": s.language,
                "kind": "agent" if s.agent else "code",
            }
            for s in self.manager.kernelspecs()
            if self.guard.may_list(caller, s.name)
        ]

    async def op_list_tree(self, path: str = "~", *, caller: Caller = USER) -> list[dict[str, Any]]:
        node = self.manager.tree.resolve(path)
        nodes = [node] if isinstance(node, KernelEntry) else [node, *node.walk()]
        out: list[dict[str, Any]] = []
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
                    "started_by_you": self.guard.owns(caller, rec),
                    "where": f"remote:{rec.remote_host}" if rec.remote_host else "local",
                    "agent": rec.agent,
                    **({"model": rec.model} if rec.agent else {}),
                }
            )
        return out

    async def op_start_kernel(
        self, kernelspec: str, label: str, folder: str = "~", *, caller: Caller = USER
    ) -> dict[str, str]:
        with self.guard.starting(caller, kernelspec):
            if folder not in ("~", "."):
                self.manager.tree.mkdir(folder, parents=True)
            entries = await self.manager.start(
                kernelspec,
                [label],
                folder=folder,
                started_by=self.guard.name_of(caller),
                owner=caller.id,
            )
        return {"path": entries[0].path}

    async def op_interrupt_kernel(self, path: str, *, caller: Caller = USER) -> str:
        self.guard.may_use(caller, path)
        await self.manager.interrupt(path)
        return f"interrupted {self.manager.record(path).entry.path}"

    async def op_restart_kernel(self, path: str, *, caller: Caller = USER) -> str:
        self.guard.may_use(caller, path)
        entry = await self.manager.restart(path)
        return f"restarted {entry.path}; its state is gone"

    async def op_stop_kernel(self, path: str, *, caller: Caller = USER) -> str:
        self.guard.may_use(caller, path)
        stopped = await self.manager.stop([path])
        return f"stopped {', '.join(stopped)}"

    async def op_kernel_history(
        self, path: str, n: int = 10, *, caller: Caller = USER
    ) -> list[str]:
        self.guard.may_use(caller, path)
        items = await self.manager.history(path, n=n)
        return [str(item[2]) for item in items]

    async def op_kernel_owner(self, path: str, *, caller: Caller = USER) -> dict[str, Any]:
        rec = self.manager.record(path)
        return {
            "started_by": rec.started_by,
            "you": self.guard.name_of(caller),
            "yours": self.guard.owns(caller, rec),
        }

    async def op_silik(self, command: str, *, caller: Caller = USER) -> str:
        if self.commands is None:
            raise ServiceError("invalid", "silik commands are not available here")
        words = command.strip().split(None, 1)
        head = words[0] if words else ""

        def check(planned: PlannedLine) -> None:
            self.guard.may_run(caller, head, planned)

        return await run_command_text(self.manager, self.commands, command, check)

    async def run_code(
        self, path: str, code: str, timeout: float = 60.0, *, caller: Caller = USER
    ) -> AsyncIterator[dict[str, Any]]:
        """Output events as they come, then one ``result`` event.

        On timeout the kernel is interrupted and the output so far is kept; if the
        interrupt does not end the run within INTERRUPT_GRACE seconds either,
        run_code stops waiting for it. stdin is not available to agents (input()
        raises in the kernel).
        """
        self.guard.may_use(caller, path)
        rec = self.manager.record(path)
        started = time.monotonic()

        async def execute(emit: Emit) -> dict[str, Any]:
            def on_iopub(msg: Message) -> None:
                msg_type = msg["header"]["msg_type"]
                if msg_type in OUTPUT_TYPES:
                    emit({"kind": "output", "msg_type": msg_type, "content": msg["content"]})

            run = await self.manager.begin_execute(path, code, ExecuteOptions(allow_stdin=False))
            return await run.drain(on_iopub)

        runs = timed_run(
            execute,
            timeout=timeout,
            grace=INTERRUPT_GRACE,
            interrupt=lambda: self.manager.interrupt(path),
        )
        async with aclosing(runs):  # a consumer that stops early stops the run now
            async for item in runs:
                if isinstance(item, Ended):
                    ended = item
                    break
                yield item
        reply = {} if ended.task.cancelled() else ended.task.result()
        timed_out = ended.timed_out
        yield {"kind": "result", "data": _run_result(rec.entry.path, reply, timed_out, started)}

    async def ask_agent(
        self,
        path: str,
        message: str,
        timeout: float = 600.0,
        fresh: bool = False,
        allow_stdin: bool = False,
        limits: dict | None = None,
        *,
        caller: Caller = USER,
        ask: AskUser | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """One chat turn of the agent kernel at ``path``: its outputs as events, then
        a ``result`` (status, answer, tools, usage) from its reply's metadata."""
        self.guard.may_use(caller, path)
        rec = self.manager.record(path)
        if not self._is_agent(rec.spec_name):
            raise ServiceError(
                "invalid",
                f"{rec.entry.path} is a {rec.spec_name} kernel, not an agent kernel",
                "ask_agent talks to agent kernels; run_code runs code in the others",
            )
        if limits is not None and not isinstance(limits, dict):
            raise ServiceError("invalid", "ask_agent: limits must be an object or null")
        policy = caller.policy or ToolPolicy()
        delegation = self.delegations.plan(
            caller.id, rec.entry.kernel_id, policy.max_depth, self._kernel_name
        )
        chain = [self._kernel_name(k) for k in delegation.chain]
        meta = request_metadata(thread=caller.id or "user", fresh=fresh, limits=limits, chain=chain)
        options = ExecuteOptions(allow_stdin=allow_stdin and ask is not None, metadata=meta)
        with self.delegations.running(delegation):
            async for event in ask_turn(
                self.manager, path, message, options, timeout=timeout, ask=ask
            ):
                yield event

    def _is_agent(self, spec_name: str) -> bool:
        try:
            return self.manager.spec(spec_name).agent
        except SilikError:
            return False

    def _kernel_name(self, kernel_id: str) -> str:
        return self.guard.name_of(Caller(kernel_id))


def _run_result(
    path: str, reply: dict[str, Any], timed_out: bool, started: float
) -> dict[str, Any]:
    """The ``result`` of run_code: how the run ended, from its execute_reply."""
    return {
        "path": path,
        "status": reply.get("status", "timeout" if timed_out else "unknown"),
        "execution_count": reply.get("execution_count"),
        "ename": reply.get("ename"),
        "evalue": reply.get("evalue"),
        "traceback": reply.get("traceback"),
        "timed_out": timed_out,
        "seconds": round(time.monotonic() - started, 3),
    }
