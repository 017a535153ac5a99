"""What ask_agent adds to an agent's turn (run.py --agents calls it; also runnable alone).

    python benchmarks/delegation.py [ROUNDS]

The asked agent is a one-line agent whose scripted model (FunctionModel) takes a
fixed 20 ms per answer, installed as a kernelspec. "direct" is one chat turn sent
straight to it (an execute_request through the sub-kernel's client); "ask_agent"
is the same turn asked through the ask_agent tool of an in-process service, as an
agent kernel without a parent silik asks (through a parent silik the bridge adds
its own hop, which run_code's row measures). Rounds alternate, medians are compared.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_kernels import AgentSpec  # noqa: E402

NAME = "silik-bench-asked"
LATENCY = 0.020  # seconds the scripted model takes for each answer

ASKED_MODULE = f"""\
import asyncio
from pydantic_ai import Agent
from pydantic_ai.models.function import FunctionModel


async def _answer(messages, info):
    await asyncio.sleep({LATENCY})
    yield "Done."


agent = Agent(FunctionModel(stream_function=_answer), name="asked")
"""


def ask_agent_overhead(rounds: int) -> tuple[float, float]:
    """Median ms of the asked agent's own turn, and of the same turn via ask_agent."""
    spec = AgentSpec(ASKED_MODULE, NAME)
    old_path = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (spec.jupyter_path, old_path) if p)
    try:
        return asyncio.run(_measure(rounds))
    finally:
        if old_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old_path
        spec.close()


async def _measure(rounds: int) -> tuple[float, float]:
    from silik_agents.toolset import LocalBackend, silik_toolset

    backend = LocalBackend(caller="bench")
    try:
        tools = silik_toolset(backend)
        entry = (await backend.manager.start(NAME, ["asked"], started_by="bench", owner="bench"))[0]
        sub = backend.manager.subkernel(entry.path)
        ask_agent = tools.tools["ask_agent"].function

        async def direct_once() -> float:
            t = time.perf_counter()
            async for _channel, msg in sub.execute("hello"):
                _fail_on_error(msg)
            return (time.perf_counter() - t) * 1000

        async def asked_once() -> float:
            t = time.perf_counter()
            got = await ask_agent(entry.path, "hello")
            assert got["answer"] == "Done.", got
            return (time.perf_counter() - t) * 1000

        for _ in range(5):  # warm both paths: imports, first requests
            await direct_once(), await asked_once()
        direct: list[float] = []
        asked: list[float] = []
        for _ in range(rounds):
            direct.append(await direct_once())
            asked.append(await asked_once())
        return statistics.median(direct), statistics.median(asked)
    finally:
        await backend.close()


def _fail_on_error(msg: dict[str, Any]) -> None:
    if msg["header"]["msg_type"] == "error" or msg["content"].get("status") == "error":
        raise RuntimeError(f"the asked agent failed: {msg['content'].get('evalue')}")


def bench(b: Any, quick: bool) -> None:
    """Add the ask_agent row to run.py's Bench ``b``."""
    b.row(
        f"ask_agent vs the asked agent's own turn ({LATENCY * 1000:.0f} ms model), median",
        *ask_agent_overhead(10 if quick else 100),
        "ms+",
        "<= +20 ms",
    )


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    direct, asked = ask_agent_overhead(rounds)
    load = os.getloadavg()[0]
    print(f"asked agent's own turn: {direct:.2f} ms median; via ask_agent: {asked:.2f} ms")
    print(f"ask_agent adds {asked - direct:+.2f} ms ({asked / direct:.2f}x); target <= +20 ms")
    print(f"{rounds} rounds each, load average {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
