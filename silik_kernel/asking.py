"""One agent kernel asking another for a chat turn: the chain of who asks whom,
and the turn itself read as a stream.

The service tracks the chains itself (which kernel runs a turn asked by whom),
so an agent cannot claim to be anywhere but where it is: depth and cycles are
checked against what the service saw begin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.policy_guard import PolicyDenied
from silik_kernel.protocol.messages import OUTPUT_TYPES
from silik_kernel.subkernels.execution import ExecuteOptions, Message
from silik_kernel.timed_runs import Emit, Ended, timed_run

#: The request and reply metadata key an agent kernel reads and answers under.
AGENT_KEY = "silik_agents"
PROTOCOL_VERSION = 1
#: Seconds a cancelled or timed-out turn gets to end after its interrupt.
STOP_GRACE = 1.5
#: Asks the human at the top: (prompt, password) -> the answer.
AskUser = Callable[[str, bool], Awaitable[str]]


@dataclass(frozen=True)
class Delegation:
    """One asked turn's place: the kernel ids from the top, the asked one last."""

    chain: tuple[str, ...]

    @property
    def depth(self) -> int:
        return len(self.chain) - 1


class Delegations:
    """The chains of the turns being asked, by the asked kernel's id."""

    def __init__(self) -> None:
        self._chains: dict[str, Delegation] = {}

    def chain_of(self, kernel_id: str) -> tuple[str, ...]:
        """Where ``kernel_id`` stands: its asked turn's chain, or itself at the top."""
        known = self._chains.get(kernel_id)
        if known is not None:
            return known.chain
        return (kernel_id,) if kernel_id else ()

    def plan(
        self, caller_id: str, asked_id: str, max_depth: int, name: Callable[[str], str]
    ) -> Delegation:
        """The asked turn's place, or PolicyDenied naming the chain for a cycle or a
        chain deeper than ``max_depth``."""
        chain = (*self.chain_of(caller_id), asked_id)
        shown = " → ".join(name(k) for k in chain)
        if asked_id in chain[:-1]:
            raise PolicyDenied(
                f"refused: asking {name(asked_id)} would make a cycle ({shown}); "
                "answer from what you know, or ask another agent"
            )
        delegation = Delegation(chain)
        if delegation.depth > max_depth:
            raise PolicyDenied(
                f"refused: {shown} is {delegation.depth} agents deep, more than max_depth = "
                f"{max_depth}; do the work yourself or ask an agent nearer the top"
            )
        return delegation

    @contextmanager
    def running(self, delegation: Delegation) -> Iterator[None]:
        asked = delegation.chain[-1]
        self._chains[asked] = delegation
        try:
            yield
        finally:
            if self._chains.get(asked) is delegation:
                del self._chains[asked]


def request_metadata(
    *,
    thread: str,
    fresh: bool,
    limits: dict[str, Any] | None,
    chain: list[str],
) -> dict[str, Any]:
    """The execute_request metadata of an asked turn (the delegation contract)."""
    return {
        AGENT_KEY: {
            "version": PROTOCOL_VERSION,
            "thread": thread,
            "fresh": fresh,
            "limits": limits,
            "delegation": {
                "path": chain[-1],
                "asked_by": chain[-2] if len(chain) > 1 else "user",
                "chain": chain,
                "depth": len(chain) - 1,
            },
        }
    }


async def ask_turn(
    manager: SilikManager,
    path: str,
    message: str,
    options: ExecuteOptions,
    *,
    timeout: float,
    ask: AskUser | None,
) -> AsyncIterator[dict[str, Any]]:
    """The asked kernel's outputs as events, then one ``result`` event.

    Stopped early (the asking cell was interrupted), the asked kernel is
    interrupted and given STOP_GRACE seconds to end its turn.
    """
    where = manager.record(path).entry.path

    async def read(emit: Emit) -> Message:
        run = await manager.begin_execute(path, message, options)
        try:
            async for channel, msg in run:
                msg_type = msg["header"]["msg_type"]
                if channel == "iopub" and msg_type in OUTPUT_TYPES:
                    emit({"kind": "output", "msg_type": msg_type, "content": msg["content"]})
                elif channel == "stdin" and msg_type == "input_request":
                    content = msg["content"]
                    answer = ""
                    if ask is not None:
                        answer = await ask(content.get("prompt", ""), bool(content.get("password")))
                    run.sub.input_reply(answer)
                elif channel == "shell":
                    return msg
        finally:
            run.close()
        raise SilikError("the agent kernel sent no reply", hint=None)

    runs = timed_run(
        read,
        timeout=timeout,
        grace=STOP_GRACE,
        interrupt=lambda: _interrupt(manager, path),
        interrupt_if_abandoned=True,
    )
    async with aclosing(runs):  # stopped early: the asked kernel is interrupted now
        async for item in runs:
            if isinstance(item, Ended):
                task, status = item.task, "timeout" if item.timed_out else ""
                break
            yield item
    yield {"kind": "result", "data": turn_result(where, task, status)}


async def _interrupt(manager: SilikManager, path: str) -> None:
    try:
        await manager.interrupt(path)
    except SilikError:
        pass  # dead or gone: its run ends on its own


def turn_result(path: str, task: asyncio.Future, status: str) -> dict[str, Any]:
    """The ``result`` of ask_agent, from the asked turn's execute_reply."""
    reply: Message = {}
    ename = evalue = None
    if task.cancelled():
        status = status or "interrupted"
    elif isinstance(task.exception(), KernelDiedError):
        exc = task.exception()
        status, ename, evalue = "dead", "KernelDied", getattr(exc, "message", str(exc))
    elif task.exception() is not None:
        exc = task.exception()
        status = status or "error"
        ename, evalue = type(exc).__name__, str(exc)
    else:
        reply = task.result()
    content = reply.get("content") or {}
    meta = (reply.get("metadata") or {}).get(AGENT_KEY) or {}
    if reply and not status:
        if content.get("status") == "ok":
            status = "ok"
        elif content.get("ename") == "KeyboardInterrupt":
            status = "interrupted"
        else:
            status = "error"
    return {
        "path": path,
        "status": status or "error",
        "answer": str(meta.get("answer") or ""),
        "tools": list(meta.get("tools") or []),
        "usage": meta.get("usage") or {},
        "model": meta.get("model"),
        "ename": content.get("ename", ename),
        "evalue": content.get("evalue", evalue),
    }
