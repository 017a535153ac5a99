"""Asking the user before a tool that requires approval runs.

pydantic-ai pauses such calls (``requires_approval=True`` tools, or a tool
raising ``ApprovalRequired``) as deferred tool requests, and tools may defer a
question to the user the same way. :class:`Approvals` answers them inline: from
the config's allow/deny lists, else by a prompt on stdin, else (no stdin) by
denying the call and saying why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import (
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDenied,
)

from silik_agents.config import ApprovalSettings
from silik_agents.render import format_args

#: Argument names that say what a call acts on: `Allow run_code on k1.py?`
TARGET_ARGS = ("kernel", "path", "file", "filename", "target", "url", "name")

NO_STDIN_REASON = (
    "denied because this frontend cannot answer approval prompts (the cell was run "
    "without stdin); allow the tool in the config file's [approvals] allow list, or "
    "run the cell from a frontend with input support"
)
USER_DENIED = "The user denied this tool call."
NO_STDIN_QUESTION = "Nobody can answer: this frontend does not accept input (no stdin)."

#: Sends a prompt to the user and returns the answer.
Ask = Callable[[str], Awaitable[str]]
#: Called before a prompt goes up, with the id of the call waiting for approval
#: (None for a question) and the call's arguments.
ShowWaiting = Callable[[str | None, Any], None]


class Approvals:
    """Answers the deferred tool calls of one turn.

    ``ask`` is None when the frontend cannot answer prompts (no stdin).
    """

    def __init__(
        self,
        settings: ApprovalSettings,
        ask: Ask | None,
        show_waiting: ShowWaiting = lambda call_id, args: None,
        *,
        asker: str | None = None,
    ) -> None:
        self.settings = settings
        self.ask = ask
        self.show_waiting = show_waiting
        self.asker = asker  # this kernel's path when another agent asked for the turn

    async def resolve(
        self, ctx: RunContext[Any], requests: DeferredToolRequests
    ) -> DeferredToolResults:
        """The handler pydantic-ai calls with the calls a run step deferred."""
        approvals: dict[str, bool | ToolApproved | ToolDenied] = {}
        for call in requests.approvals:
            approvals[call.tool_call_id] = await self.decide(call)
        calls: dict[str, Any] = {}
        for call in requests.calls:
            if requests.kind(call.tool_call_id) == "question":
                metadata = requests.metadata.get(call.tool_call_id)
                calls[call.tool_call_id] = await self.answer_question(call, metadata)
            else:
                calls[call.tool_call_id] = ToolFailed(
                    f"{call.tool_name} is an external tool, and this kernel cannot run it."
                )
        return requests.build_results(approvals=approvals, calls=calls)

    async def decide(self, call: ToolCallPart) -> ToolApproved | ToolDenied:
        """The config's decision, else the user's y/N."""
        preset = preset_decision(call.tool_name, self.settings)
        if preset is True:
            return ToolApproved()
        if preset is False:
            return ToolDenied(f"The configuration of this kernel denies {call.tool_name}.")
        if self.ask is None:
            return ToolDenied(f"The call was {NO_STDIN_REASON}.")
        args = args_of(call)
        self.show_waiting(call.tool_call_id, args)
        answer = await self.ask(approval_prompt(call.tool_name, args, self.asker))
        return ToolApproved() if is_yes(answer) else ToolDenied(USER_DENIED)

    async def answer_question(self, call: ToolCallPart, metadata: Any) -> Any:
        """The user's answer to a question a tool deferred."""
        if self.ask is None:
            return ToolFailed(NO_STDIN_QUESTION)
        args = args_of(call)
        self.show_waiting(None, args)
        return await self.ask(question_prompt(call.tool_name, args, metadata))


def preset_decision(tool_name: str, settings: ApprovalSettings) -> bool | None:
    """True/False when the config decides; None when the user must be asked."""
    if tool_name in settings.deny:
        return False
    if tool_name in settings.allow:
        return True
    if settings.policy == "allow":
        return True
    if settings.policy == "deny":
        return False
    return None


def approval_prompt(
    tool_name: str, args: str | dict[str, Any] | None, asker: str | None = None
) -> str:
    """Two lines: the call with its arguments, then the question; one line naming
    the agent that wants it when the turn was asked for by another agent (the
    prompt reaches a human at the top of the chain)."""
    target = _target(args)
    on = f" on {target}" if target else ""
    if asker:
        return f"{asker} wants {tool_name}{on}: {format_args(args, 400)} [y/N] "
    return f"{tool_name}({format_args(args, 400)})\nAllow {tool_name}{on}? [y/N] "


def question_prompt(tool_name: str, args: str | dict[str, Any] | None, metadata: Any) -> str:
    """The text to show for a tool that defers a question to the user."""
    for source in (metadata, args):
        if isinstance(source, dict):
            for key in ("question", "prompt"):
                if isinstance(source.get(key), str):
                    return source[key].rstrip() + " "
    return f"{tool_name}({format_args(args, 400)}) asks: "


def is_yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes")


def args_of(call: ToolCallPart) -> str | dict[str, Any] | None:
    """A call's arguments as a dict, or as the model sent them when they do not parse."""
    try:
        return call.args_as_dict()
    except Exception:
        return call.args


def _target(args: str | dict[str, Any] | None) -> str | None:
    if not isinstance(args, dict):
        return None
    for key in TARGET_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value and len(value) <= 80 and "\n" not in value:
            return value
    return None
