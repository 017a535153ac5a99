"""The work of the ask_agent tool: one turn of another agent kernel, its output
shown under the call, its prompts passed up to the human, its answer for the model.

The service (local, or the parent silik's over the bridge) checks the asked
kernel, the depth and cycles, and runs the turn; this side gives it what is left
of this turn's budget and books what the delegate spent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from silik_kernel.asking import AskUser
from silik_kernel.errors import SilikError
from silik_kernel.service import ServiceError
from silik_kernel.tools.backend import SilikBackend
from silik_kernel.tools.base import ToolError, turn_budget

__all__ = ["AskUser", "ask_agent"]

#: (path, event): an output of the asked kernel, marked ``"agent": True``.
Sink = Callable[[str, dict[str, Any]], None]


async def ask_agent(
    backend: SilikBackend,
    path: str,
    message: str,
    *,
    timeout: float,
    fresh: bool,
    sink: Sink | None,
    ask: AskUser | None,
) -> dict[str, Any]:
    """The asked agent's answer, tools and usage; ToolError saying why it has none."""
    budget = turn_budget.get()
    args = {
        "path": path,
        "message": message,
        "timeout": timeout,
        "fresh": fresh,
        "allow_stdin": ask is not None,
        "limits": budget.remaining() if budget is not None else None,
    }
    result: dict[str, Any] = {}
    try:
        async for event in backend.stream("ask_agent", args, timeout=timeout, ask=ask):
            if event.get("kind") == "result":
                result = event.get("data") or {}
            elif sink is not None:
                sink(path, {**event, "agent": True})
    except ServiceError as exc:
        raise ToolError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
    except SilikError as exc:
        raise ToolError(str(exc)) from None
    asked = str(result.get("path") or path)
    usage = result.get("usage") or {}
    if budget is not None and usage:
        budget.add_delegated(asked, usage)
    if result.get("status") != "ok":
        raise ToolError(failure(asked, result, timeout))
    return {
        "path": asked,
        "answer": result.get("answer", ""),
        "tools": result.get("tools", []),
        "usage": usage,
    }


def failure(path: str, result: dict[str, Any], timeout: float) -> str:
    """Why an asked turn gave no answer, said so that the model can act on it."""
    status = result.get("status") or "error"
    error = ": ".join(str(x) for x in (result.get("ename"), result.get("evalue")) if x)
    if status == "timeout":
        return (
            f"{path} did not answer within {timeout:g} s and was interrupted (that turn is "
            "not in its conversation); ask again with a smaller task or a longer timeout"
        )
    if status == "dead":
        return f"{path} died during its turn ({error or 'its process ended'}); nothing came back"
    if status == "interrupted":
        return f"{path}'s turn was interrupted before it answered; nothing came back"
    return f"{path} could not answer: {error or 'its turn failed'}"
