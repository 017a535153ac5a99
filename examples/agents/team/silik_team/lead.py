"""The lead: hands analysis to a pydata agent and review to a reviewer agent.

It has no tools of its own. With the silik toolset it starts its team as agent
kernels in ``~/team`` (``start_kernel``) and talks to them with ``ask_agent``;
the human sees their work live under each call, can step into any of them with
``> ~/team/analyst.agent`` and interrupt the whole chain from the lead's cell.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent

from silik_agents import AgentKernel, CommandOutput, command
from silik_agents.errors import AgentError

TEAM_FOLDER = "~/team"

INSTRUCTIONS = """\
You lead a small team of agents in a Jupyter notebook. You do not analyse data
yourself: you delegate, check and report.

Your team are agent kernels in the silik tree, in the folder ~/team:
- an analyst: kernelspec "pydata" (pandas and plots), label "analyst";
- a reviewer: kernelspec "reviewer", label "reviewer".

Work like this:
1. list_tree("~/team") shows who is already there. Start a missing member with
   start_kernel(kernelspec, label, folder="~/team"); if list_kernelspecs() has no
   such kernelspec, tell the user which example to pip install and stop.
2. Ask the analyst with ask_agent(path, message): one clear task with the file
   names and the numbers you need. Its answer comes back as text.
3. Ask the reviewer with ask_agent to check the analyst's answer: paste the
   answer and the question into your message. The reviewer says what is
   supported and what is not.
4. Answer the user: the analyst's result, the reviewer's verdict, and the paths
   of your team so the user can step in. Never report a number neither of them
   gave you.
A delegate's failure (budget used up, interrupted, refused) comes back as a tool
error: say what happened and carry on with what you have.
"""

agent = Agent(
    # Any pydantic-ai model string that supports tools; see the README.
    "openai:gpt-5-mini",
    name="lead",
    instructions=INSTRUCTIONS,
    defer_model_check=True,  # a missing API key is an error cell, not a dead kernel
)


class LeadKernel(AgentKernel):
    """The lead agent, plus `/team` for the human: who is on the team right now."""

    agent = agent

    @command("/team", help="List the agent kernels in ~/team and their status.")
    async def cmd_team(self, arg: str) -> CommandOutput:
        try:
            tree = await self.silik_backend().call("list_tree", {"path": TEAM_FOLDER})
        except Exception as exc:  # no ~/team yet, or no silik: say so, keep the kernel
            raise AgentError(
                f"cannot list {TEAM_FOLDER}: {exc}",
                "ask the lead for something first: it starts its team when it needs it",
            ) from None
        members = [k for k in tree if k.get("type") == "kernel"]
        if not members:
            return CommandOutput(f"Nobody in {TEAM_FOLDER} yet.")
        return CommandOutput("\n".join(_member_line(k) for k in members))


def _member_line(kernel: dict[str, Any]) -> str:
    return f"{kernel['path']}  [{kernel['kernelspec']} {kernel['status']}]"
