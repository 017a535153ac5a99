"""The silik tools: what a model may do with the kernels of a silik tree.

Tool names, arguments and docstrings are public API: the docstrings are what the
model reads, through every face (pydantic-ai agents, MCP clients). Every tool
calls a :class:`SilikBackend`: the parent silik through the bridge, or a
ManagerService in this process. Failures are :class:`ToolError`; images are
:class:`Image`.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from silik_kernel.agent_policy import ToolPolicy
from silik_kernel.errors import SilikError
from silik_kernel.service import ServiceError
from silik_kernel.tools.backend import LocalBackend, SilikBackend
from silik_kernel.tools.base import ToolError, input_asker, output_sink
from silik_kernel.tools.delegation import ask_agent
from silik_kernel.tools.run_output import RunOutput

KEPT_RUNS = 50  # whole outputs of truncated runs kept for get_output


class SilikTools:
    """The silik tools, with what they share: the backend, the policy and kept outputs.

    Each public async method named in TOOL_NAMES is a tool: its name, signature
    and docstring are what the model sees. The policy's limits on kernels and
    commands are enforced by the service behind the backend (the parent silik,
    or this process's own), so no way of calling a tool, and no code the model
    runs, gets around them.
    """

    #: The tools, in the order the model sees them.
    TOOL_NAMES = (
        "list_kernelspecs", "list_tree", "start_kernel", "run_code", "get_output",
        "interrupt_kernel", "restart_kernel", "stop_kernel", "kernel_history", "silik",
        "ask_agent",
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
        """List the kernel types (kernelspecs) that can be started, with their language.

        "kind" is "agent" for agent kernels (talk to them with ask_agent) and
        "code" for the others (run code in them with run_code); start_kernel
        starts either.
        """
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
        reply = await self.collect(path, code, timeout, run)
        return run.result(path, reply, self.policy.max_output_chars, self.keep)

    async def get_output(self, run_id: str, offset: int = 0) -> str:
        """Read the full output of a truncated run_code, 4000 characters from offset.

        Args:
            run_id: the run_id from a truncated run_code result.
            offset: where to start reading; the reply says where the next part starts.
        """
        text = self.runs.get(run_id)
        if text is None:
            raise ToolError(f"no output is kept for run_id {run_id!r}")
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

    async def ask_agent(
        self, path: str, message: str, timeout: float = 600, fresh: bool = False
    ) -> dict[str, Any]:
        """Ask another agent kernel (an "agent" kind from list_kernelspecs, started with
        start_kernel) to do something, and wait for its answer.

        Args:
            path: the agent kernel's path, e.g. "~/team/analyst.txt".
            message: what you ask, as you would write it to a colleague: the agent
                sees only this message and what you told it before.
            timeout: seconds before its turn is interrupted.
            fresh: true to start a new conversation with it; by default it remembers
                what you asked it before (each asker has a conversation of its own).

        Returns its answer text, the names of the tools it called, and what its
        turn used (requests, tokens). When it fails (its budget ran out, it was
        refused, interrupted, timed out or died) the call fails with the reason.
        """
        ask = input_asker.get()
        return await ask_agent(
            self.backend,
            path,
            message,
            timeout=float(timeout),
            fresh=fresh,
            sink=output_sink.get(),
            ask=(lambda prompt, password: ask(prompt)) if ask is not None else None,
        )

    # -- what the faces share ------------------------------------------------------
    async def collect(
        self, path: str, code: str, timeout: float | None, run: RunOutput
    ) -> dict[str, Any]:
        """Run ``code``, adding each output to ``run`` as it comes; the run's result."""
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
            raise tool_error(exc) from None
        return reply

    async def _call(self, op: str, **args: Any) -> Any:
        try:
            return await self.backend.call(op, args)
        except ServiceError as exc:
            raise tool_error(exc) from None
        except SilikError as exc:
            raise ToolError(str(exc)) from None

    def keep(self, text: str) -> str:
        """Keep a run's whole output (the last KEPT_RUNS runs); its run_id."""
        run_id = uuid.uuid4().hex[:8]
        self.runs[run_id] = text
        while len(self.runs) > KEPT_RUNS:
            self.runs.popitem(last=False)
        return run_id


def tool_error(exc: ServiceError) -> ToolError:
    """A refused or failed operation, with its hint, as the model reads it."""
    return ToolError(exc.message + (f" ({exc.hint})" if exc.hint else ""))
