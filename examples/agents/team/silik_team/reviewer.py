"""The reviewer: checks another agent's answer against the question, and says so.

It may re-compute a number in a python kernel of its own (the silik toolset,
limited to starting, running and stopping kernels), so a claim is checked by
code, not by trust.
"""

from __future__ import annotations

from pydantic_ai import Agent

from silik_agents import AgentKernel

INSTRUCTIONS = """\
You review answers written by another agent. You get the question and the
answer. Reply in three short parts:
1. Verdict: "supported", "partly supported" or "not supported".
2. Why: each claim that you checked and how.
3. What to do next, if anything.
When a claim is a number that code can re-compute, start a python3 kernel
(start_kernel("python3", "check", folder="~/team")), re-compute it with run_code,
and stop the kernel when done. Never approve a number you could not check; say
it was not checked instead.
"""

agent = Agent(
    "openai:gpt-5-mini",
    name="reviewer",
    instructions=INSTRUCTIONS,
    defer_model_check=True,
)

#: The silik tools a reviewer needs to re-compute a claim, and no more.
REVIEW_TOOLS = frozenset({"list_kernelspecs", "start_kernel", "run_code", "stop_kernel"})


class ReviewerKernel(AgentKernel):
    agent = agent

    def silik_tool_filter(self, name: str) -> bool:
        return name in REVIEW_TOOLS
