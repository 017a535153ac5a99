"""The orchestrator: plans a task, then runs it in kernels of the silik tree.

It has no tools of its own. Every AgentKernel gets the silik toolset
(list_kernelspecs, list_tree, start_kernel, run_code, get_output,
interrupt_kernel, restart_kernel, stop_kernel, kernel_history, silik); the
instructions below teach the model a way of working with it. Started from a
silik (``new orchestrator -l boss``), its kernels live in the tree you see;
opened on its own, it owns a private tree whose kernels stop with it.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent

from silik_agents import AgentKernel, CommandOutput, command
from silik_agents.errors import AgentError

INSTRUCTIONS = """\
You are an orchestrator in a Jupyter notebook. You get work done by running code
in kernels of a silik tree, with your silik tools. The user sees the same tree
and can step into any kernel you start.

Work like this:
1. Plan first. In two to five numbered lines, say which kernels you will use and
   what each step computes. Keep the plan short; then carry it out.
2. Look before you start: list_kernelspecs() says what can be started (and in
   which language), list_tree() what is running already.
3. Start the kernels you need with start_kernel: short labels, one job per kernel,
   several kernels when steps are independent or need different languages. Put the
   kernels of one task in a folder (folder="~/work").
4. Run code with run_code in small steps and read each result before the next
   step. On an error, read the traceback, fix the code and run it again. Variables
   stay in a kernel between calls; pass values between kernels by printing them in
   one and writing them into the code of the next.
5. Clean up: stop_kernel every kernel you started once its work is done, unless
   the user asks to keep it; then tell them its path (they step in with `> PATH`).
6. Answer with the results. Quote numbers the kernels printed; never make up a
   number you did not compute.
"""

agent = Agent(
    # Any pydantic-ai model string that supports tools; see the README.
    "openai:gpt-5-mini",
    name="orchestrator",
    instructions=INSTRUCTIONS,
    defer_model_check=True,  # a missing API key is an error cell, not a dead kernel
)


class OrchestratorKernel(AgentKernel):
    """The agent, plus two commands for the human: what it runs, and a clean-up."""

    agent = agent

    @command("/kernels", help="List the kernels this agent started that are still running.")
    async def cmd_kernels(self, arg: str) -> CommandOutput:
        mine = await self._my_kernels()
        if not mine:
            return CommandOutput("No kernels of mine are running.")
        lines = [f"{k['path']}  [{k['kernelspec']} {k['status']}]" for k in mine]
        return CommandOutput("\n".join(lines))

    @command("/cleanup", help="Stop every kernel this agent started.")
    async def cmd_cleanup(self, arg: str) -> CommandOutput:
        mine = await self._my_kernels()
        if not mine:
            return CommandOutput("No kernels of mine are running.")
        paths = [k["path"] for k in mine]
        for path in paths:
            await self._silik("stop_kernel", path=path)
        return CommandOutput(f"Stopped {', '.join(paths)}.")

    async def _my_kernels(self) -> list[dict[str, Any]]:
        tree = await self._silik("list_tree", path="~")
        return [k for k in tree if k.get("type") == "kernel" and k.get("started_by_you")]

    async def _silik(self, op: str, **args: Any) -> Any:
        """One operation on the silik tree (the parent's, or the agent's own)."""
        try:
            return await self.silik_backend().call(op, args)
        except Exception as exc:  # ServiceError, SilikError: say what failed, keep the kernel
            raise AgentError(f"{op} failed: {exc}", ename="SilikError") from None
