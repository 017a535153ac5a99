"""The silik toolset: tools that let an LLM work with kernels in a silik tree.

Tool names, arguments and docstrings are public API: the docstrings are what the
model reads. Every tool calls a :class:`SilikBackend`: the parent silik through
the bridge when the agent kernel was started from a silik, or an in-process
SilikManager otherwise. Both run the same ``ManagerService`` operations.
"""

from __future__ import annotations

import contextvars
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from pydantic_ai import FunctionToolset, Tool, ToolFailed

from silik_agents.policy import SilikSettings, ToolPolicy
from silik_agents.run_output import RunOutput
from silik_kernel.agent_policy import Caller
from silik_kernel.errors import SilikError
from silik_kernel.service import ServiceError

#: Called with (kernel path, output event) for every output of code the agent
#: runs, so the agent kernel can show it live in the chat cell.
output_sink: contextvars.ContextVar[Callable[[str, dict[str, Any]], None] | None] = (
    contextvars.ContextVar("silik_output_sink", default=None)
)


class SilikBackend(Protocol):
    """What the tools need: ManagerService operations, local or over the bridge."""

    async def call(self, op: str, args: dict[str, Any], *, timeout: float = 60.0) -> Any: ...

    def stream(
        self, op: str, args: dict[str, Any], *, timeout: float | None = None
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


class LocalBackend:
    """An in-process SilikManager for an agent kernel with no parent silik.

    The agent owns these kernels: :meth:`close` shuts them all down. Its service
    holds the agent to ``policy``; a backend made without one holds it to the
    policy of the first toolset it is given to.
    """

    def __init__(self, caller: str = "agent", policy: ToolPolicy | None = None) -> None:
        from silik_kernel.commands.builtin import BUILTIN_COMMANDS
        from silik_kernel.manager import SilikManager
        from silik_kernel.service import ManagerService

        self.caller = caller
        self.policy = policy
        self.manager = SilikManager()
        self.service = ManagerService(self.manager, BUILTIN_COMMANDS)

    def _as(self) -> Caller:
        policy = self.policy or ToolPolicy()
        if not isinstance(policy, SilikSettings):
            policy = SilikSettings.model_validate(policy.model_dump())
        return Caller(self.caller, policy)

    async def call(self, op: str, args: dict[str, Any], *, timeout: float = 60.0) -> Any:
        return await self.service.call(op, args, caller=self._as())

    async def stream(
        self, op: str, args: dict[str, Any], *, timeout: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        async for event in self.service.stream(op, args, caller=self._as()):
            yield event

    async def close(self) -> None:
        await self.manager.shutdown_all()


class SilikTools:
    """The silik tools, with what they share: the backend, the policy and kept outputs.

    Each public async method is a tool: its name, signature and docstring are what
    the model sees. The policy's limits on kernels and commands are enforced by
    the service behind the backend (the parent silik, or a LocalBackend's own),
    so no way of calling a tool, and no code the agent runs, gets around them.
    """

    #: The tools, in the order the model sees them.
    TOOL_NAMES = (
        "list_kernelspecs", "list_tree", "start_kernel", "run_code", "get_output",
        "interrupt_kernel", "restart_kernel", "stop_kernel", "kernel_history", "silik",
    )  # fmt: skip

    def __init__(self, backend: SilikBackend, policy: ToolPolicy | None = None) -> None:
        self.backend = backend
        self.policy = policy or ToolPolicy()
        if isinstance(backend, LocalBackend) and backend.policy is None:
            backend.policy = self.policy
        self.runs: OrderedDict[str, str] = OrderedDict()

    def functions(self) -> list[Callable[..., Any]]:
        return [getattr(self, name) for name in self.TOOL_NAMES]

    # -- the tools -------------------------------------------------------------
    async def list_kernelspecs(self) -> list[dict[str, str]]:
        """List the kernel types (kernelspecs) that can be started, with their language."""
        return await self._call("list_kernelspecs")

    async def list_tree(self, path: str = "~") -> list[dict[str, Any]]:
        """List the folders and kernels under a folder of the silik tree.

        Args:
            path: a folder such as "~" (the root) or "~/work".

        Each kernel has its path (use it in other tools), kernelspec, status
        (idle, busy, starting, restarting or dead), who started it,
        started_by_you, and agent (true for an agent kernel, which has its model).
        """
        return await self._call("list_tree", path=path)

    async def start_kernel(self, kernelspec: str, label: str, folder: str = "~") -> str:
        """Start a new kernel and return its path, e.g. "~/calc.py".

        Args:
            kernelspec: a name from list_kernelspecs, e.g. "python3".
            label: a short name; the path adds the language's extension (calc -> calc.py).
            folder: the folder to put it in; created if missing.
        """
        result = await self._call("start_kernel", kernelspec=kernelspec, label=label, folder=folder)
        return result["path"]

    async def run_code(self, path: str, code: str, timeout: float | None = None) -> Any:
        """Run code in a kernel and return what it produced.

        Args:
            path: the kernel's path, e.g. "~/calc.py".
            code: the code to run, in the kernel's language. State persists between calls.
            timeout: seconds before the kernel is interrupted (default from your policy);
                the output so far is returned with timed_out=true.

        Returns stdout, stderr, results (text/plain of values and displays), the mime
        types produced, and on failure ename, evalue and the traceback. Long output is
        cut: then truncated is true and get_output(run_id, offset) returns the rest.
        Images (plots) are attached so you can look at them.
        """
        run = RunOutput()
        sink = output_sink.get()
        reply: dict[str, Any] = {}
        limit = self.policy.default_timeout if timeout is None else float(timeout)
        try:
            async for event in self.backend.stream(
                "run_code", {"path": path, "code": code, "timeout": limit}, timeout=limit
            ):
                if event.get("kind") == "result":
                    reply = event.get("data") or {}
                    continue
                run.add(event["msg_type"], event["content"])
                if sink is not None:
                    sink(path, event)
        except ServiceError as exc:
            raise _tool_error(exc) from None
        return run.result(path, reply, self.policy.max_output_chars, self.keep)

    async def get_output(self, run_id: str, offset: int = 0) -> str:
        """Read the full output of a truncated run_code, 4000 characters from offset.

        Args:
            run_id: the run_id from a truncated run_code result.
            offset: where to start reading; the reply says where the next part starts.
        """
        text = self.runs.get(run_id)
        if text is None:
            raise ToolFailed(f"no output is kept for run_id {run_id!r}")
        part = text[offset : offset + 4000]
        end = offset + len(part)
        more = f"\n[{len(text) - end} more characters: get_output({run_id!r}, {end})]"
        return part + (more if end < len(text) else "\n[end of output]")

    async def interrupt_kernel(self, path: str) -> str:
        """Interrupt what a kernel is running (like Ctrl-C). Its state is kept."""
        return await self._call("interrupt_kernel", path=path)

    async def restart_kernel(self, path: str) -> str:
        """Restart a kernel: a fresh process, all variables and imports lost."""
        return await self._call("restart_kernel", path=path)

    async def stop_kernel(self, path: str) -> str:
        """Stop a kernel and remove it from the tree. Stop the kernels you no longer need."""
        return await self._call("stop_kernel", path=path)

    async def kernel_history(self, path: str, n: int = 10) -> list[str]:
        """The last n inputs a kernel ran since it started (its own, not other kernels'), oldest first."""
        return await self._call("kernel_history", path=path, n=n)

    async def silik(self, command: str) -> str:
        """Run one silik command line and return its text output.

        For what the other tools do not cover, e.g. "mkdir -p ~/work", "mv a.py work/",
        "info ~/calc.py", "help". Connect mode and exit are not available.
        """
        return await self._call("silik", command=command)

    # -- helpers -----------------------------------------------------------------
    async def _call(self, op: str, **args: Any) -> Any:
        try:
            return await self.backend.call(op, args)
        except ServiceError as exc:
            raise _tool_error(exc) from None
        except SilikError as exc:
            raise ToolFailed(str(exc)) from None

    def keep(self, text: str) -> str:
        """Keep a run's whole output (the last 50 runs); its run_id."""
        run_id = uuid.uuid4().hex[:8]
        self.runs[run_id] = text
        while len(self.runs) > 50:
            self.runs.popitem(last=False)
        return run_id


class SilikToolset(FunctionToolset[Any]):
    """The silik tools as a pydantic-ai toolset; ``silik_tools`` is the state behind them.

    A FunctionToolset, so ``tools[name].function`` calls a tool directly, and an
    AgentKernel sees the tools of an agent that carries this toolset as the agent's own.
    """

    def __init__(self, silik_tools: SilikTools, include: Callable[[str], bool] | None = None):
        ask = silik_tools.policy.require_approval
        super().__init__(
            [
                Tool(fn, requires_approval=fn.__name__ in ask)
                for fn in silik_tools.functions()
                if include is None or include(fn.__name__)
            ]
        )
        self.silik_tools = silik_tools


def function_tool_names(agent: Any) -> set[str]:
    """The names of the tools an agent has in its own function toolsets."""
    toolsets = agent.toolsets if agent is not None else []
    return {name for ts in toolsets if isinstance(ts, FunctionToolset) for name in ts.tools}


def _tool_error(exc: ServiceError) -> Exception:
    """A failed tool result the model reads and reacts to.

    ToolFailed rather than ModelRetry: it does not use up the tool's retry
    budget, so a model that keeps getting a path wrong can never crash the cell.
    """
    return ToolFailed(exc.message + (f" ({exc.hint})" if exc.hint else ""))


def silik_toolset(
    backend: SilikBackend,
    policy: ToolPolicy | None = None,
    *,
    include: Callable[[str], bool] | None = None,
) -> SilikToolset:
    """The silik tools for a pydantic-ai agent.

    ``include(name)`` filters tools; tools named in ``policy.require_approval``
    ask the human (the AgentKernel shows a y/N prompt).
    """
    return SilikToolset(SilikTools(backend, policy), include)
