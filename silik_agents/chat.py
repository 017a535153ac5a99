"""The conversation of one agent kernel: complete turns only.

A turn runs the agent with the history so far and streams its events to a
callback. Only a turn that ends well is added to the history; a failed or
interrupted one leaves it as it was (its tokens still count in ``usage``).
"""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import AgentRunResultEvent
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.capabilities import HandleDeferredToolCalls
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, RunContext, ToolDefinition
from pydantic_ai.usage import RunUsage

#: Key in a message's ``metadata`` holding the id chat frontends get back.
MESSAGE_ID_KEY = "silik_id"

EventCallback = Callable[[Any], Awaitable[None] | None]
DeferredHandler = Callable[
    [RunContext[Any], DeferredToolRequests], Awaitable[DeferredToolResults | None]
]


@dataclass
class TurnResult:
    output: Any
    new_messages: list[ModelMessage]
    usage: RunUsage
    run_id: str
    conversation_id: str

    @property
    def message_ids(self) -> list[str]:
        return [message_id(m) or "" for m in self.new_messages]


@dataclass
class ChatSession:
    messages: list[ModelMessage] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)  # every turn, failed ones included
    turns: int = 0  # completed turns

    def reset(self) -> int:
        """Forget the conversation; returns how many messages were dropped."""
        dropped = len(self.messages)
        self.messages = []
        return dropped

    async def run_turn(
        self,
        agent: AbstractAgent[Any, Any],
        prompt: str,
        *,
        on_event: EventCallback,
        resolve_deferred: DeferredHandler | None = None,
        history: Sequence[ModelMessage] | None = None,
        **run_kwargs: Any,
    ) -> TurnResult:
        """Run one turn; ``history`` (from a chat frontend) replaces the kernel's own."""
        base = list(self.messages if history is None else history)
        capabilities = list(run_kwargs.pop("capabilities", None) or [])
        if resolve_deferred is not None:
            capabilities.append(HandleDeferredToolCalls(handler=resolve_deferred))
        result = None
        handle = None
        try:
            async with agent.run_stream_events(
                prompt,
                message_history=base or None,
                capabilities=capabilities or None,
                **run_kwargs,
            ) as events:
                handle = events
                async for event in events:
                    if isinstance(event, AgentRunResultEvent):
                        result = event.result
                        continue
                    outcome = on_event(event)
                    if inspect.isawaitable(outcome):
                        await outcome
        except BaseException:
            self._count(handle)
            raise
        assert result is not None
        self.usage.incr(result.usage)
        new = [_with_id(m) for m in result.new_messages()]
        everything = result.all_messages()
        kept = everything[: len(everything) - len(result.new_messages())]
        self.messages = list(kept) + new
        self.turns += 1
        return TurnResult(result.output, new, result.usage, result.run_id, result.conversation_id)

    def _count(self, handle: Any) -> None:
        """Tokens spent by a turn that did not finish still count."""
        if handle is None:
            return
        try:
            spent = handle.usage
        except Exception:
            return
        self.usage.incr(spent)


class ChatThreads:
    """The conversations other callers (agents asking with ask_agent) hold with this
    kernel, one per thread; the least recently used is dropped past ``limit``."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self._sessions: OrderedDict[str, ChatSession] = OrderedDict()

    def session(self, thread: str, *, fresh: bool = False) -> ChatSession:
        chat = None if fresh else self._sessions.get(thread)
        if chat is None:
            chat = ChatSession()
            self._sessions[thread] = chat
        self._sessions.move_to_end(thread)
        while len(self._sessions) > self.limit:
            self._sessions.popitem(last=False)
        return chat

    def for_turn(self, thread: str | None, fresh: bool, *, own: ChatSession) -> ChatSession:
        """The conversation a turn continues: its thread's, or (None) the kernel's own."""
        if thread is not None:
            return self.session(thread, fresh=fresh)
        if fresh:
            own.reset()
        return own

    def __len__(self) -> int:
        return len(self._sessions)


def tools_called(messages: Sequence[ModelMessage]) -> list[str]:
    """The names of the tools the model called in ``messages``, in order."""
    return [
        part.tool_name
        for m in messages
        if isinstance(m, ModelResponse)
        for part in m.parts
        if isinstance(part, ToolCallPart)
    ]


async def offered_tools(agent: AbstractAgent[Any, Any], **run_kwargs: Any) -> list[ToolDefinition]:
    """The tools the model would be offered, found by a run that stops before any request."""
    seen: list[ToolDefinition] = []

    def capture(messages: Any, info: AgentInfo) -> Any:
        seen.extend(info.function_tools)
        raise _ToolsSeen

    try:
        await agent.run("", model=FunctionModel(capture), **run_kwargs)
    except _ToolsSeen:
        pass
    return seen


class _ToolsSeen(Exception):
    """Stops the dry run that lists tools, before any model request."""


def message_id(message: ModelMessage) -> str | None:
    meta = getattr(message, "metadata", None)
    if isinstance(meta, dict):
        value = meta.get(MESSAGE_ID_KEY)
        return str(value) if value is not None else None
    return None


def _with_id(message: ModelMessage) -> ModelMessage:
    if message_id(message):
        return message
    meta = dict(message.metadata or {})
    meta[MESSAGE_ID_KEY] = uuid.uuid4().hex
    return dataclasses.replace(message, metadata=meta)
