"""Slash commands of an agent kernel: ``/reset``, ``/model``, ``/tools``...

A command is a kernel method marked with :func:`command`; its name, usage and
help are declared once there, and ``/help``, completion and inspection read
them. Subclasses add commands the same way, or override a built-in by
redefining its method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.tools import ToolDefinition

from silik_agents.budget import UsageLedger, format_cost, usage_dict
from silik_agents.chat import ChatSession
from silik_agents.errors import AgentError
from silik_agents.model_choice import ModelChoice, known_model_names
from silik_agents.render import code_span, format_args, short
from silik_kernel.kernel.base import complete_reply

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__silik_agent_command__"


@dataclass(frozen=True)
class ChatCommand:
    name: str  # "/model"
    usage: str  # "/model [NAME]"
    help: str
    method: str = ""  # the kernel method that runs it


@dataclass
class CommandOutput:
    """What a command shows: plain text, and optionally markdown for notebooks."""

    text: str
    markdown: str | None = None

    def bundle(self) -> dict[str, str]:
        data = {"text/plain": self.text}
        if self.markdown:
            data["text/markdown"] = self.markdown
        return data


def command(name: str, *, help: str, usage: str | None = None) -> Callable[[F], F]:
    """Mark ``async def method(self, arg: str)`` as the slash command ``name``."""
    if not name.startswith("/") or " " in name:
        raise ValueError(f"command names look like /name, not {name!r}")

    def mark(fn: F) -> F:
        setattr(fn, _MARK, ChatCommand(name, usage or name, help))
        return fn

    return mark


def is_command(text: str) -> bool:
    """A cell for the kernel (``/name``) rather than the agent (a message, or ``//text``)."""
    return text.startswith("/") and not text.startswith("//")


def collect_commands(cls: type) -> dict[str, ChatCommand]:
    """Every command of a kernel class; a subclass's declaration wins."""
    found: dict[str, ChatCommand] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            cmd = getattr(value, _MARK, None)
            if isinstance(cmd, ChatCommand):
                found[cmd.name] = ChatCommand(cmd.name, cmd.usage, cmd.help, attr)
    return dict(sorted(found.items()))


class ChatHost(Protocol):
    """What the built-in commands read and change on the kernel they are mixed into."""

    commands: dict[str, ChatCommand]
    chat: ChatSession
    usage_ledger: UsageLedger
    session_model: ModelChoice | None
    last_thinking: str

    @property
    def model_choice(self) -> ModelChoice: ...

    @property
    def configured_model(self) -> ModelChoice: ...

    def model_for(self, spec: str) -> Model: ...

    async def tool_definitions(self) -> list[ToolDefinition]: ...

    def unknown_command(self, name: str) -> AgentError: ...


class ChatCommands:
    """The built-in commands, mixed into AgentKernel."""

    @command("/help", usage="/help [COMMAND]", help="List the commands, or explain one.")
    async def cmd_help(self: ChatHost, arg: str) -> CommandOutput:
        if arg:
            name = arg if arg.startswith("/") else "/" + arg
            cmd = self.commands.get(name)
            if cmd is None:
                raise self.unknown_command(name)
            return CommandOutput(f"{cmd.usage}\n    {cmd.help}")
        rows = [(c.usage, c.help) for c in self.commands.values()]
        width = max(len(u) for u, _ in rows)
        text = "\n".join(f"{u.ljust(width)}  {h}" for u, h in rows)
        note = "Any other cell is a message to the agent; start it with // to send a leading /."
        md = "\n".join(f"| {code_span(u)} | {h} |" for u, h in rows)
        return CommandOutput(
            f"{text}\n\n{note}", f"| command | what it does |\n|---|---|\n{md}\n\n{note}"
        )

    @command("/reset", help="Start a new conversation (the agent forgets this one).")
    async def cmd_reset(self: ChatHost, arg: str) -> CommandOutput:
        dropped = self.chat.reset()
        return CommandOutput(f"Conversation cleared ({dropped} messages dropped).")

    @command("/history", usage="/history [N]", help="Show the conversation (the last N turns).")
    async def cmd_history(self: ChatHost, arg: str) -> CommandOutput:
        last = _count_arg(arg, "/history")
        turns = conversation_turns(self.chat.messages)
        if last is not None:
            turns = turns[-last:] if last else []
        if not turns:
            return CommandOutput("The conversation is empty.")
        plain, md = [], []
        for turn in turns:
            for who, text in turn:
                plain.append(f"{who}: {text}")
                md.append(f"**{who}:** {text}")
            plain.append("")
        return CommandOutput("\n".join(plain).rstrip(), "\n\n".join(md))

    @command(
        "/model",
        usage="/model [NAME | default]",
        help="Show the model, or switch to NAME (any pydantic-ai model string) for this session.",
    )
    async def cmd_model(self: ChatHost, arg: str) -> CommandOutput:
        if arg == "default":
            self.session_model = None
            choice = self.model_choice
            return CommandOutput(f"Model: {choice.label} (from {choice.source}).")
        if arg:
            self.model_for(arg)  # fails here, with what to install or set, if it cannot work
            self.session_model = ModelChoice(arg, "/model")
            return CommandOutput(f"Model: {arg} for the rest of this session.")
        choice = self.model_choice
        lines = [f"Model: {choice.label} (from {choice.source})."]
        default = self.configured_model
        if self.session_model is not None:
            lines.append(f"Without /model it would be {default.label} (from {default.source}).")
        lines.append(
            "Switch with /model NAME, e.g. /model openai-chat:gpt-4o, "
            "/model anthropic:claude-sonnet-4-5, /model test."
        )
        return CommandOutput("\n".join(lines))

    @command("/tools", help="List the tools the agent can call.")
    async def cmd_tools(self: ChatHost, arg: str) -> CommandOutput:
        tools = await self.tool_definitions()
        if not tools:
            return CommandOutput("This agent has no tools.")
        plain, md = [], []
        for tool in tools:
            params = ", ".join((tool.parameters_json_schema or {}).get("properties", {}))
            ask = " (asks for approval)" if tool.kind == "unapproved" else ""
            desc = short(tool.description or "", 120)
            plain.append(f"{tool.name}({params}){ask}  {desc}".rstrip())
            md.append(f"- {code_span(f'{tool.name}({params})')}{ask} {desc}".rstrip())
        return CommandOutput("\n".join(plain), "\n".join(md))

    @command(
        "/usage",
        help="Requests, tokens and cost of this session (every thread), and of the agents it asked.",
    )
    async def cmd_usage(self: ChatHost, arg: str) -> CommandOutput:
        ledger = self.usage_ledger
        own = usage_dict(ledger.total)
        rows = [("this kernel", own)]
        rows += [(path, used) for path, used in sorted(ledger.delegated.items())]
        headers = ["who", "requests", "input tokens", "output tokens", "tool calls", "cost"]
        table = [
            [who, str(u["requests"]), str(u["input_tokens"]), str(u["output_tokens"])]
            + [str(u["tool_calls"]), format_cost(u["cost"])]
            for who, u in rows
        ]
        widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]
        plain = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [headers, *table]
        ]
        md = ["| " + " | ".join(r) + " |" for r in [headers, ["---"] * len(headers), *table]]
        note = f"Model: {ledger.model or self.model_choice.label}. Turns: {self.chat.turns}."
        if not ledger.delegated:
            note += " It asked no other agent."
        return CommandOutput("\n".join(plain) + "\n" + note, "\n".join(md) + "\n\n" + note)

    @command("/thinking", help="Show the model's thinking in the last answer.")
    async def cmd_thinking(self: ChatHost, arg: str) -> CommandOutput:
        text = self.last_thinking
        if not text:
            return CommandOutput("The last answer had no thinking.")
        return CommandOutput(text, text)

    # -- helpers used by the kernel --------------------------------------------
    async def run_command(self: ChatHost, text: str) -> Any:
        """Run a command cell (``/name arg``); what the command returned, text as CommandOutput."""
        name, *rest = text.split(None, 1)
        cmd = self.commands.get(name)
        if cmd is None:
            raise self.unknown_command(name)
        arg = rest[0] if rest else ""
        result = await getattr(self, cmd.method)(arg.strip())
        return CommandOutput(result) if isinstance(result, str) else result

    def unknown_command(self: ChatHost, name: str) -> AgentError:
        names = ", ".join(self.commands)
        return AgentError(
            f"unknown command {name}",
            f"commands: {names}; start a message with // to send text beginning with /",
            ename="UnknownCommand",
        )

    def complete_command(self: ChatHost, line: str) -> tuple[list[str], int]:
        """Matches for the text before the cursor, and how many characters they replace."""
        if " " not in line:
            return [c for c in self.commands if c.startswith(line)], len(line)
        head, _, rest = line.partition(" ")
        if head == "/model" and " " not in rest:
            names = ["default", *known_model_names()]
            return [n for n in names if n.startswith(rest)], len(rest)
        if head == "/help" and " " not in rest:
            return [c for c in self.commands if c.startswith(rest)], len(rest)
        return [], 0


def completion_reply(
    code: str, cursor_pos: int, complete: Callable[[str], tuple[list[str], int]]
) -> dict[str, Any]:
    """A complete_reply: only a command line (the first line of a cell) completes."""
    line = code[:cursor_pos].rsplit("\n", 1)[-1]
    if is_command(line) and "\n" not in code[:cursor_pos]:
        return complete_reply(cursor_pos, *complete(line))
    return complete_reply(cursor_pos)


def inspection_reply(commands: Mapping[str, ChatCommand], code: str) -> dict[str, Any]:
    """An inspect_reply: the usage and help of the command the cell starts with."""
    word = code.strip().split(None, 1)[0] if code.strip() else ""
    cmd = commands.get(word)
    if cmd is None:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    return {
        "status": "ok",
        "found": True,
        "data": {"text/plain": f"{cmd.usage}\n    {cmd.help}"},
        "metadata": {},
    }


def is_complete_reply(commands: Mapping[str, ChatCommand], code: str) -> dict[str, Any]:
    """An is_complete_reply: a trailing backslash continues the message; unknown
    commands are invalid."""
    if code.rstrip("\n").endswith("\\"):
        return {"status": "incomplete", "indent": ""}
    text = code.strip()
    if is_command(text) and text.split(None, 1)[0] not in commands:
        return {"status": "invalid"}
    return {"status": "complete"}


def conversation_turns(messages: list[ModelMessage]) -> list[list[tuple[str, str]]]:
    """The conversation as turns of (who, text) lines, tool calls summarised."""
    turns: list[list[tuple[str, str]]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    text = part.content if isinstance(part.content, str) else "(non-text input)"
                    turns.append([("You", text)])
        elif isinstance(message, ModelResponse):
            if not turns:
                turns.append([])
            for part in message.parts:
                if isinstance(part, TextPart) and part.content:
                    turns[-1].append(("Agent", part.content))
                elif isinstance(part, ToolCallPart):
                    call = f"{part.tool_name}({format_args(part.args, 80)})"
                    turns[-1].append(("Tool call", call))
    return turns


def _count_arg(arg: str, name: str) -> int | None:
    if not arg:
        return None
    if not arg.isdigit():
        raise AgentError(f"{name} takes a number of turns, not {arg!r}", f"e.g. {name} 3")
    return int(arg)
