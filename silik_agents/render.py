"""One chat turn as a live view: agent stream events in, markdown and plain text out.

The view is a list of blocks in the order they happened (thinking, text, tool
calls). The kernel shows it as one display that it updates in place while the
events arrive. Nothing here does I/O, so it is tested without a kernel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_ai.messages import (
    DeferredToolRequestsEvent,
    DeferredToolResultsEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    NativeToolCallPart,
    NativeToolReturnPart,
    OutputToolCallEvent,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
)

from silik_agents.tool_results import result_summary

ThinkingMode = Literal["collapsed", "shown", "hidden"]
ToolStatus = Literal[
    "streaming", "running", "asking", "approved", "denied", "done", "failed", "retry"
]

ARGS_LIMIT = 160
RESULT_LIMIT = 200
#: A tool call in one of these states changes no more.
SETTLED_TOOL: frozenset[str] = frozenset({"done", "failed", "denied", "retry"})


@dataclass(eq=False)
class TextBlock:
    text: str = ""


@dataclass(eq=False)
class ThinkingBlock:
    text: str = ""


@dataclass(eq=False)
class ToolBlock:
    tool_call_id: str
    name: str
    args: str | dict[str, Any] | None = None
    status: ToolStatus = "streaming"
    result: str = ""
    note: str = ""  # why a call was denied, or what it waits for
    native: bool = False  # run by the provider (web search, code execution...)

    def call_text(self, limit: int = ARGS_LIMIT) -> str:
        return f"{self.name}({format_args(self.args, limit)})"


@dataclass(eq=False)
class OutputBlock:
    """A structured (non-text) final output."""

    value: Any


Block = TextBlock | ThinkingBlock | ToolBlock | OutputBlock


@dataclass
class TurnView:
    """Everything one turn showed so far; ``apply`` each event, then render."""

    thinking: ThinkingMode = "collapsed"
    blocks: list[Block] = field(default_factory=list)
    status: Literal["running", "done", "interrupted", "failed"] = "running"
    _parts: dict[int, Block] = field(default_factory=dict)  # part index -> block, this response
    _ended: set[int] = field(default_factory=set)
    _tools: dict[str, ToolBlock] = field(default_factory=dict)

    # -- events ------------------------------------------------------------
    def apply(self, event: Any) -> None:
        if isinstance(event, PartStartEvent):
            self._start_part(event.index, event.part)
        elif isinstance(event, PartDeltaEvent):
            self._delta(event.index, event.delta)
        elif isinstance(event, PartEndEvent):
            self._ended.add(event.index)
        elif isinstance(event, FunctionToolCallEvent):
            block = self._tool(event.part.tool_call_id, event.part.tool_name)
            block.args = _args(event.part)
            block.status = "running"
        elif isinstance(event, OutputToolCallEvent):
            # The model's "final answer" call is the output, not a tool the user cares about.
            block = self._tools.pop(event.part.tool_call_id, None)
            if block is not None and block in self.blocks:
                self.blocks.remove(block)
        elif isinstance(event, FunctionToolResultEvent):
            part = event.part
            block = self._tool(part.tool_call_id, part.tool_name)
            outcome = getattr(part, "outcome", "success")
            block.result = short(result_summary(part))
            block.status = {
                "success": "done",
                "denied": "denied",
                "failed": "failed",
                "retried": "retry",
                "interrupted": "failed",
            }.get(outcome, "done")
            if outcome == "denied" and not block.note:
                block.note = block.result
        elif isinstance(event, DeferredToolRequestsEvent):
            for call in event.requests.approvals:
                block = self._tool(call.tool_call_id, call.tool_name)
                block.args = _args(call)
                block.status = "asking"
        elif isinstance(event, DeferredToolResultsEvent):
            for call_id, decision in event.results.approvals.items():
                block = self._tools.get(call_id)
                if block is None:
                    continue
                denied = decision is False or getattr(decision, "kind", "") == "tool-denied"
                block.status = "denied" if denied else "approved"
                if denied:
                    block.note = getattr(decision, "message", "") or "denied"

    def _start_part(self, index: int, part: Any) -> None:
        current = self._parts.get(index)
        replace = current is not None and index not in self._ended
        self._ended.discard(index)
        if isinstance(part, TextPart):
            block: Block = TextBlock(part.content)
        elif isinstance(part, ThinkingPart):
            block = ThinkingBlock(part.content)
        elif isinstance(part, NativeToolCallPart):
            block = self._tool(part.tool_call_id, part.tool_name, add=False)
            block.native = True
            block.args = _args(part)
            block.status = "running"
        elif isinstance(part, NativeToolReturnPart):
            tool = self._tools.get(part.tool_call_id)
            if tool is not None:
                tool.result = short(_content_text(part))
                tool.status = "done"
            return
        elif isinstance(part, ToolCallPart):
            block = self._tool(part.tool_call_id, part.tool_name, add=False)
            block.args = part.args
        else:
            return
        if replace and current in self.blocks:
            self.blocks[self.blocks.index(current)] = block
        elif block not in self.blocks:
            self.blocks.append(block)
        self._parts[index] = block

    def _delta(self, index: int, delta: Any) -> None:
        block = self._parts.get(index)
        if isinstance(delta, TextPartDelta) and isinstance(block, TextBlock):
            block.text += delta.content_delta
        elif isinstance(delta, ThinkingPartDelta) and isinstance(block, ThinkingBlock):
            block.text += delta.content_delta or ""
        elif isinstance(delta, ToolCallPartDelta) and isinstance(block, ToolBlock):
            if delta.tool_name_delta:
                block.name += delta.tool_name_delta
            if isinstance(delta.args_delta, str):
                block.args = (block.args if isinstance(block.args, str) else "") + delta.args_delta
            elif isinstance(delta.args_delta, dict):
                block.args = delta.args_delta

    def _tool(self, call_id: str, name: str, *, add: bool = True) -> ToolBlock:
        block = self._tools.get(call_id)
        if block is None:
            block = ToolBlock(call_id, name)
            self._tools[call_id] = block
            if add:
                self.blocks.append(block)
        return block

    # -- state the kernel sets -------------------------------------------------
    def tool(self, call_id: str) -> ToolBlock | None:
        return self._tools.get(call_id)

    def finish(self, output: Any) -> None:
        """The run ended well; show a final output that was not streamed as text."""
        self.status = "done"
        if isinstance(output, str):
            if output and not any(isinstance(b, TextBlock) and b.text for b in self.blocks):
                self.blocks.append(TextBlock(output))
        elif output is not None:
            self.blocks.append(OutputBlock(output))

    def part(self, blocks: list[Block], *, last: bool) -> TurnView:
        """Some of this turn's blocks, to render alone (the footer goes with the last part)."""
        status = self.status if last else "running"
        return TurnView(thinking=self.thinking, blocks=list(blocks), status=status)

    def settled_count(self, blocks: list[Block]) -> int:
        """How many of ``blocks`` (the end of this turn) lead off settled: text and
        thinking once a later block started, tool calls once they have their result."""
        over = self.status != "running"
        for count, block in enumerate(blocks):
            if isinstance(block, ToolBlock):
                settled = block.status in SETTLED_TOOL
            else:
                settled = over or count < len(blocks) - 1 or isinstance(block, OutputBlock)
            if not settled:
                return count
        return len(blocks)

    @property
    def answer(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))

    @property
    def thinking_text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks if isinstance(b, ThinkingBlock) and b.text)

    @property
    def is_empty(self) -> bool:
        return not self.blocks

    # -- rendering -------------------------------------------------------------
    def bundle(self) -> dict[str, str]:
        return {"text/plain": self.plain(), "text/markdown": self.markdown()}

    def markdown(self) -> str:
        chunks: list[str] = []
        for block in self.blocks:
            if isinstance(block, TextBlock):
                if block.text:
                    chunks.append(block.text)
            elif isinstance(block, ThinkingBlock):
                if self.thinking == "hidden" or not block.text:
                    continue
                if self.thinking == "shown":
                    chunks.append(_quote("💭 " + block.text))
                else:
                    chunks.append(
                        f"<details><summary>💭 Thinking</summary>\n\n{block.text}\n\n</details>"
                    )
            elif isinstance(block, ToolBlock):
                chunks.append(_tool_markdown(block))
            elif isinstance(block, OutputBlock):
                chunks.append("```json\n" + _json(block.value) + "\n```")
        footer = _FOOTERS.get(self.status)
        if footer:
            chunks.append(f"*{footer}*")
        if not chunks:
            return "*…*"
        return "\n\n".join(chunks)

    def plain(self) -> str:
        lines: list[str] = []
        for block in self.blocks:
            if isinstance(block, TextBlock):
                if block.text:
                    lines.append(block.text)
            elif isinstance(block, ThinkingBlock):
                if self.thinking == "hidden" or not block.text:
                    continue
                if self.thinking == "shown":
                    lines.append("[thinking] " + block.text)
                else:
                    lines.append(f"[thinking: {len(block.text)} characters; /thinking shows it]")
            elif isinstance(block, ToolBlock):
                lines.append(_tool_plain(block))
            elif isinstance(block, OutputBlock):
                lines.append(_json(block.value))
        footer = _FOOTERS.get(self.status)
        if footer:
            lines.append(f"[{footer}]")
        return "\n".join(lines) if lines else "…"


_FOOTERS = {
    "interrupted": "interrupted: this turn was not added to the conversation",
    "failed": "failed: this turn was not added to the conversation",
}

_STATUS_WORDS: dict[str, str] = {
    "streaming": "…",
    "running": "running…",
    "asking": "waiting for your approval…",
    "approved": "approved, running…",
}


def _tool_markdown(block: ToolBlock) -> str:
    icon = "🌐" if block.native else "🔧"
    call = code_span(block.call_text())
    if block.status in _STATUS_WORDS:
        tail = f" *{_STATUS_WORDS[block.status]}*"
    elif block.status == "denied":
        tail = f" 🚫 denied: {_md_text(block.note or block.result)}"
    elif block.status in ("failed", "retry"):
        word = "failed" if block.status == "failed" else "asked to retry"
        tail = f" ✗ {word}: {code_span(block.result)}"
    else:
        tail = f" → {code_span(block.result)}" if block.result else " ✓"
    return f"{icon} {call}{tail}"


def _tool_plain(block: ToolBlock) -> str:
    head = f"[tool] {block.call_text()}"
    if block.status in _STATUS_WORDS:
        return f"{head} {_STATUS_WORDS[block.status]}"
    if block.status == "denied":
        return f"{head} denied: {block.note or block.result}"
    if block.status in ("failed", "retry"):
        return f"{head} failed: {block.result}"
    return f"{head} -> {block.result}" if block.result else head


def _args(part: Any) -> str | dict[str, Any] | None:
    try:
        return part.args_as_dict()
    except Exception:
        return part.args


def format_args(args: str | dict[str, Any] | None, limit: int = ARGS_LIMIT) -> str:
    """``code='1+1', kernel='k1.py'``, cut to ``limit`` characters."""
    if args is None:
        return ""
    if isinstance(args, str):
        try:
            parsed = json.loads(args) if args.strip() else {}
        except ValueError:
            return short(args, limit)
        if not isinstance(parsed, dict):
            return short(args, limit)
        args = parsed
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return short(text, limit)


def short(text: str, limit: int = RESULT_LIMIT) -> str:
    """One line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code_span(text: str) -> str:
    """Inline markdown code that survives backticks in ``text``."""
    if not text:
        return "``"
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _content_text(part: Any) -> str:
    try:
        return part.model_response_str()
    except Exception:
        content = getattr(part, "content", "")
        return content if isinstance(content, str) else repr(content)


def _json(value: Any) -> str:
    from pydantic_core import to_json

    try:
        return to_json(value, indent=2).decode()
    except Exception:
        return repr(value)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def _md_text(text: str) -> str:
    return text.replace("*", "\\*").replace("_", "\\_")
