"""Approvals: deferred tool calls answered by the config, a scripted user, or nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai import Agent, CallDeferred, models
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import ModelMessage, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.tools import ToolApproved, ToolDenied

from silik_agents.approvals import NO_STDIN_QUESTION, NO_STDIN_REASON, USER_DENIED, Approvals
from silik_agents.chat import ChatSession
from silik_agents.config import ApprovalSettings

models.ALLOW_MODEL_REQUESTS = False


class ScriptedUser:
    """Answers prompts in order, and records what was shown before each."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.waiting: list[tuple[str | None, Any]] = []

    async def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)

    def show_waiting(self, call_id: str | None, args: Any) -> None:
        self.waiting.append((call_id, args))


def call(name: str = "run_code", **args: Any) -> ToolCallPart:
    return ToolCallPart(name, args or {"path": "~/k1.py", "code": "1+1"}, tool_call_id="c1")


async def test_the_config_decides_without_asking():
    user = ScriptedUser()
    settings = ApprovalSettings(allow=["run_code"], deny=["stop_kernel"])
    approvals = Approvals(settings, user.ask, user.show_waiting)
    assert isinstance(await approvals.decide(call("run_code")), ToolApproved)
    denied = await approvals.decide(call("stop_kernel"))
    assert isinstance(denied, ToolDenied)
    assert denied.message == "The configuration of this kernel denies stop_kernel."
    assert user.prompts == [] and user.waiting == []


async def test_without_stdin_the_call_is_denied_and_says_why():
    approvals = Approvals(ApprovalSettings(), None)
    denied = await approvals.decide(call())
    assert isinstance(denied, ToolDenied) and denied.message == f"The call was {NO_STDIN_REASON}."
    failed = await approvals.answer_question(call("ask_user", question="Which?"), None)
    assert isinstance(failed, ToolFailed) and failed.message == NO_STDIN_QUESTION


async def test_the_user_answers_after_the_call_is_shown_waiting():
    user = ScriptedUser("y", "no")
    approvals = Approvals(ApprovalSettings(), user.ask, user.show_waiting)
    assert isinstance(await approvals.decide(call()), ToolApproved)
    denied = await approvals.decide(call())
    assert isinstance(denied, ToolDenied) and denied.message == USER_DENIED
    assert (
        user.prompts[0] == "run_code(path='~/k1.py', code='1+1')\nAllow run_code on ~/k1.py? [y/N] "
    )
    assert user.waiting == [("c1", {"path": "~/k1.py", "code": "1+1"})] * 2


async def test_a_question_gets_the_users_answer():
    user = ScriptedUser("the big one")
    approvals = Approvals(ApprovalSettings(), user.ask, user.show_waiting)
    answer = await approvals.answer_question(
        call("ask_user", topic="files"), {"question": "Which file?"}
    )
    assert answer == "the big one"
    assert user.prompts == ["Which file? "]
    assert user.waiting == [(None, {"topic": "files"})]


def deferring_agent() -> Agent:
    """An agent whose model calls three deferred tools at once, then reports their results."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        returns = [
            p for m in messages for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)
        ]
        if returns:
            yield "; ".join(f"{p.tool_name}={p.outcome}:{p.content}" for p in returns)
            return
        yield {
            0: DeltaToolCall(name="delete", json_args='{"path": "x"}', tool_call_id="a"),
            1: DeltaToolCall(name="ask_user", json_args='{"topic": "t"}', tool_call_id="q"),
            2: DeltaToolCall(name="elsewhere", json_args="{}", tool_call_id="e"),
        }

    agent = Agent(FunctionModel(stream_function=stream))

    @agent.tool_plain(requires_approval=True)
    def delete(path: str) -> str:
        return f"deleted {path}"

    @agent.tool_plain
    def ask_user(topic: str) -> str:
        raise CallDeferred(metadata={"question": "Which topic?"}, kind="question")

    @agent.tool_plain
    def elsewhere() -> str:
        raise CallDeferred()

    return agent


async def test_resolve_answers_approvals_questions_and_external_calls_in_one_run():
    user = ScriptedUser("y", "cooking")
    approvals = Approvals(ApprovalSettings(), user.ask, user.show_waiting)
    result = await ChatSession().run_turn(
        deferring_agent(), "go", on_event=lambda event: None, resolve_deferred=approvals.resolve
    )
    parts = dict(item.split("=", 1) for item in result.output.split("; "))
    assert parts["delete"] == "success:deleted x"
    assert parts["ask_user"] == "success:cooking"
    assert parts["elsewhere"].startswith("failed:")
    assert "elsewhere is an external tool, and this kernel cannot run it." in parts["elsewhere"]
    assert user.prompts == ["delete(path='x')\nAllow delete on x? [y/N] ", "Which topic? "]
