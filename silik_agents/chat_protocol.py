"""What chat frontends put in execute_request metadata, and get back in the reply.

Request (``metadata["silik_agents"]``, all optional)::

    {"messages": [...]}   # the conversation before this cell; replaces the kernel's own
    {"version": 1,        # a turn another agent asks for (ask_agent; the service sends it)
     "thread": "...",     # whose conversation: each caller has its own; none: the kernel's own
     "fresh": false,      # true: that thread starts anew
     "limits": {...} | null,
     "delegation": {"path": "~/team/analyst", "asked_by": "~/lead",
                    "chain": ["~/lead", "~/team/analyst"], "depth": 1}}

Each message is either a pydantic-ai message as ``ModelMessagesTypeAdapter``
dumps it (an object with ``"kind": "request" | "response"``) or a simple
``{"role": "user" | "assistant" | "system", "content": "...", "id": "..."}``.

Reply (``execute_reply`` metadata ``["silik_agents"]``)::

    {"version": 1,                     # of this format; a failed turn carries it too
     "answer": "...",                  # the final answer's text
     "tools": ["run_code", ...],       # the tools called this turn, in order
     "run_id": "...", "conversation_id": "...",
     "message_ids": ["...", ...],      # the messages this cell added, in order
     "messages": [...],                # those messages, pydantic-ai JSON
     "usage": USAGE,                   # this turn's own
     "usage_total": USAGE,             # the kernel's since it started, every thread
     "delegated": {"~/path": USAGE},   # what the agents it asked spent since it started
     "model": "openai:gpt-5"}          # the model of this turn

    USAGE = {"requests": 1, "input_tokens": 50, "output_tokens": 12,
             "total_tokens": 62, "tool_calls": 0, "cost": 0.0004 | null}

A failed or interrupted turn's reply carries ``version``, ``usage``, ``usage_total``,
``delegated`` and ``model`` (its tokens count). A request may also carry
``{"limits": {"requests", "total_tokens", "tool_calls", "cost"}}`` (each a number
or null): the turn then runs under the smaller of those and the config's ``[limits]``.

A message's id is kept in its ``metadata["silik_id"]``; a simple message's
``"id"`` becomes that id, so a frontend's ids survive the round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    UserPromptPart,
)

from silik_agents.chat import MESSAGE_ID_KEY, TurnResult, tools_called
from silik_agents.errors import AgentError

METADATA_KEY = "silik_agents"
#: The version of the reply metadata's shape (in its ``"version"``).
VERSION = 1


@dataclass(frozen=True)
class AskedTurn:
    """Who a turn is for: the thread (None: the kernel's own conversation), whether
    it starts anew, and the asked kernel's path when another agent asks."""

    thread: str | None = None
    fresh: bool = False
    path: str | None = None


def asked_turn(meta: dict[str, Any] | None) -> AskedTurn:
    """The thread and delegation of a request's metadata (absent or odd: the kernel's own)."""
    section = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    if not isinstance(section, dict):
        return AskedTurn()
    thread = section.get("thread")
    delegation = section.get("delegation")
    path = delegation.get("path") if isinstance(delegation, dict) else None
    return AskedTurn(
        thread=str(thread) if isinstance(thread, str) and thread else None,
        fresh=section.get("fresh") is True,
        path=path if isinstance(path, str) and path else None,
    )


def history_from_metadata(meta: dict[str, Any] | None) -> list[ModelMessage] | None:
    """The conversation a frontend sent with this cell, or None to use the kernel's."""
    if not isinstance(meta, dict):
        return None
    section = meta.get(METADATA_KEY)
    if not isinstance(section, dict) or "messages" not in section:
        return None
    items = section["messages"]
    if not isinstance(items, list):
        raise _bad("messages must be a list")
    out: list[ModelMessage] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and "kind" in item:
            try:
                out.extend(ModelMessagesTypeAdapter.validate_python([item]))
            except ValidationError as exc:
                raise _bad(f"messages[{i}] is not a valid pydantic-ai message: {exc}") from None
        elif isinstance(item, dict) and "role" in item:
            out.append(_simple_message(i, item))
        else:
            raise _bad(
                f'messages[{i}] needs "kind" (a pydantic-ai message) or "role" and "content"'
            )
    return out


def failed_reply_metadata(accounting: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a turn that failed or was interrupted: what it spent."""
    return {METADATA_KEY: {"version": VERSION, **accounting}}


def reply_metadata(result: TurnResult, accounting: dict[str, Any]) -> dict[str, Any]:
    """The reply's metadata: the turn's answer, tools and messages, and ``accounting``
    (usage, usage_total, delegated, model: a failed turn's reply carries those alone)."""
    output = result.output
    return {
        METADATA_KEY: {
            "version": VERSION,
            "answer": output if isinstance(output, str) else str(output),
            "tools": tools_called(result.new_messages),
            "run_id": result.run_id,
            "conversation_id": result.conversation_id,
            "message_ids": result.message_ids,
            "messages": ModelMessagesTypeAdapter.dump_python(result.new_messages, mode="json"),
            **accounting,
        }
    }


def _simple_message(i: int, item: dict[str, Any]) -> ModelMessage:
    role = item.get("role")
    content = item.get("content")
    if not isinstance(content, str):
        raise _bad(f"messages[{i}].content must be a string")
    meta = {MESSAGE_ID_KEY: str(item["id"])} if item.get("id") is not None else None
    if role == "user":
        return ModelRequest(parts=[UserPromptPart(content)], metadata=meta)
    if role == "system":
        return ModelRequest(parts=[SystemPromptPart(content)], metadata=meta)
    if role == "assistant":
        return ModelResponse(parts=[TextPart(content)], metadata=meta)
    raise _bad(f'messages[{i}].role must be "user", "assistant" or "system", not {role!r}')


def _bad(what: str) -> AgentError:
    return AgentError(
        f"execute_request metadata {METADATA_KEY}.{what}",
        'send {"silik_agents": {"messages": [{"role": "user", "content": "..."}, ...]}} '
        "or leave it out to continue the kernel's own conversation",
        ename="BadMetadata",
    )
