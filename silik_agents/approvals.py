"""Asking the user before a tool that requires approval runs.

pydantic-ai pauses such calls (``requires_approval=True`` tools, or a tool
raising ``ApprovalRequired``) as deferred tool requests. The kernel answers them
inline: from the config's allow/deny lists, else by a y/N prompt on stdin, else
(no stdin) by denying the call and saying why.
"""

from __future__ import annotations

from typing import Any

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


def approval_prompt(tool_name: str, args: str | dict[str, Any] | None) -> str:
    """Two lines: the call with its arguments, then the question."""
    target = _target(args)
    on = f" on {target}" if target else ""
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


def _target(args: str | dict[str, Any] | None) -> str | None:
    if not isinstance(args, dict):
        return None
    for key in TARGET_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value and len(value) <= 80 and "\n" not in value:
            return value
    return None
