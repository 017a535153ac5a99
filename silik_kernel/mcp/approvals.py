"""Tools the policy's ``require_approval`` names: asked of the person through
MCP elicitation when the client can ask, refused with the reason otherwise."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from mcp_types.version import is_version_at_least

APPROVAL_KEY = "silik_approval"
#: From this protocol version on, a server asks mid-call by returning input_required.
INPUT_REQUIRED_VERSION = "2026-07-28"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Approve", "default": False}},
    "required": ["approve"],
}


def question(name: str, args: dict[str, Any]) -> str:
    shown = json.dumps(args, ensure_ascii=False)
    if len(shown) > 600:
        shown = shown[:600] + "..."
    return f"An MCP client wants to run the silik tool {name} with {shown}. Allow it?"


def can_elicit(ctx: Context) -> bool:
    caps = ctx.session.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def verdict(answer: ElicitResult) -> str | None:
    """None when the person approved; else the refusal the model reads."""
    if answer.action == "accept" and (answer.content or {}).get("approve") is True:
        return None
    return "the person did not approve this call; ask them, or do something else"


async def approval(
    ctx: Context, name: str, args: dict[str, Any]
) -> str | InputRequiredResult | None:
    """None to go on; a refusal; or the input_required result that asks (the
    client calls again with the answer)."""
    if not can_elicit(ctx):
        return (
            f"{name} needs a person's approval (require_approval in the server's [silik] "
            "policy), and this MCP client cannot ask one (it does not support elicitation); "
            "remove it from require_approval to allow it"
        )
    request = ElicitRequest(
        params=ElicitRequestFormParams(message=question(name, args), requested_schema=SCHEMA)
    )
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
        answers = ctx.input_responses or {}
        answer = answers.get(APPROVAL_KEY)
        if isinstance(answer, ElicitResult):
            return verdict(answer)
        return InputRequiredResult(input_requests={APPROVAL_KEY: request})
    answer = await ctx.session.elicit_form(
        request.params.message, SCHEMA, related_request_id=ctx.request_id
    )
    return verdict(answer)
