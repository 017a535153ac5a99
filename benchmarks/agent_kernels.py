"""Agent kernels against a plain python3 ipykernel, in alternating rounds (run.py calls it).

The agent kernel is a one-line agent (``Agent(FunctionModel(...))`` answering at
once) installed with ``python -m silik_agents install``; the streaming rows point
the same kernel at a local OpenAI-compatible server (openai-chat) that streams
scripted tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
NAME = "silik-bench-agent"
TIMEOUT = 120

AGENT_MODULE = """\
from pydantic_ai import Agent
from pydantic_ai.models.function import FunctionModel


async def _answer(messages, info):
    yield "Hello."


agent = Agent(FunctionModel(stream_function=_answer), name="bench")
"""

#: Consumes the same stream as the kernel does, and prints its CPU seconds for it.
BARE_SCRIPT = """\
import asyncio, os, sys, time
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

model = OpenAIChatModel("bench", provider=OpenAIProvider(base_url=sys.argv[1], api_key="x"))

async def main():
    agent = Agent(model)
    async with agent.run_stream_events("warm up") as events:
        async for _ in events:
            pass
    start = time.process_time()
    async with agent.run_stream_events(sys.argv[2]) as events:
        async for _ in events:
            pass
    print(time.process_time() - start)

asyncio.run(main())
"""


class AgentSpec:
    """A temporary prefix holding the bench agent's kernelspec, and its module."""

    def __init__(self, module: str = AGENT_MODULE, name: str = NAME) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="silik-bench-agent-"))
        (self.dir / "bench_agent.py").write_text(module)
        self.pythonpath = f"{self.dir}{os.pathsep}{ROOT}"
        cmd = [sys.executable, "-m", "silik_agents", "install", "bench_agent:agent"]
        cmd += ["--name", name, "--prefix", str(self.dir), "--no-check"]
        cmd += ["--env", f"PYTHONPATH={self.pythonpath}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60, cwd=ROOT)
        self.jupyter_path = str(self.dir / "share" / "jupyter")
        self.specs = KernelSpecManager(kernel_dirs=[f"{self.jupyter_path}/kernels"])

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Started:
    """One kernel started from nothing, with the time each step took from the start."""

    def __init__(self, name: str, spec: AgentSpec, env: dict[str, str] | None = None) -> None:
        self.t0 = time.perf_counter()
        kw = {"kernel_spec_manager": spec.specs} if name == NAME else {}
        self.km = KernelManager(kernel_name=name, **kw)
        self.km.start_kernel(env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1", **(env or {})})
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)
        self.ready = time.perf_counter() - self.t0

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.km.provisioner.process.pid)  # type: ignore[union-attr]

    def rss(self) -> float:
        return self.process.memory_info().rss / 2**20

    def cell(self, code: str, on_iopub: Callable[[dict[str, Any]], None] = lambda m: None) -> None:
        msg_id = self.kc.execute(code)
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.01))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            on_iopub(msg)
            if msg["msg_type"] == "error":
                raise RuntimeError(f"{code!r}: {msg['content']['evalue']}")
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        while self.kc.get_shell_msg(timeout=TIMEOUT)["parent_header"].get("msg_id") != msg_id:
            pass

    def close(self) -> float:
        start = time.perf_counter()
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
        return time.perf_counter() - start


def start_rounds(spec: AgentSpec, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per kind: ready, first cell (from the start), idle RSS, RSS after a cell, shutdown."""
    got: dict[str, dict[str, list[float]]] = {
        kind: {"ready": [], "first": [], "idle": [], "turned": [], "shutdown": []}
        for kind in ("python3", NAME)
    }
    for _ in range(rounds):
        for kind, code in (("python3", "print(1)"), (NAME, "hello")):
            k = Started(kind, spec)
            k.cell(code)  # at once, as a notebook's first cell
            got[kind]["ready"].append(k.ready)
            got[kind]["first"].append(time.perf_counter() - k.t0)
            time.sleep(2)
            got[kind]["turned"].append(k.rss())
            got[kind]["shutdown"].append(k.close())
        for kind, code in (("python3", "pass"), (NAME, "/help")):
            k = Started(kind, spec)
            k.cell(code)  # /help waits for the agent to be loaded, and runs no turn
            time.sleep(1)
            got[kind]["idle"].append(k.rss())
            k.close()
    return got


def ten_in_a_tree(spec: AgentSpec, n: int) -> tuple[float, float]:
    """RSS per kernel (MiB) of n python3 and of n agent kernels started by one silik."""
    env = {"JUPYTER_PATH": spec.jupyter_path}
    silik = Started("silik", spec, env)
    try:
        per: list[float] = []
        for kind in ("python3", NAME):
            folder = kind.replace("-", "_")
            silik.cell(f"mkdir {folder}\nnew {kind} -n {n} -d {folder}")
            silik.cell(f"broadcast {'pass' if kind == 'python3' else '/help'} {folder}/*")  # loaded
            time.sleep(1)
            kids = silik.process.children()
            per.append(sum(p.memory_info().rss for p in kids) / len(kids) / 2**20)
            silik.cell(f"rm -r {folder}")
        return per[0], per[1]
    finally:
        silik.close()


class TokenServer:
    """A local OpenAI-compatible server streaming N one-word tokens; it notes when
    it wrote the first one (time.monotonic, one clock for this process)."""

    def __init__(self) -> None:
        self.tokens = 5
        self.first_sent: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                server.stream(self.wfile)
                self.close_connection = True

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def stream(self, out: Any) -> None:
        def send(delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench"}
            out.write(b"data: " + json.dumps({**chunk, "choices": [choice]}).encode() + b"\n\n")
            out.flush()

        send({"role": "assistant", "content": ""})
        time.sleep(0.05)  # the kernel is waiting for the token, as with a real model
        for i in range(self.tokens):
            if i == 0:
                self.first_sent.append(time.monotonic())
            send({"content": f"tok{i} "})
        send({}, "stop")
        out.write(b"data: [DONE]\n\n")
        out.flush()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def streaming(spec: AgentSpec, cells: int, long_tokens: int) -> tuple[list[float], float, float]:
    """Latencies first token -> first display (ms); CPU s of a long answer: kernel, bare script."""
    server = TokenServer()
    env = {"SILIK_AGENT_MODEL": "openai-chat:bench", "SILIK_AGENT_BASE_URL": server.url}
    k = Started(NAME, spec, {**env, "OPENAI_API_KEY": "x"})
    try:
        k.cell("warm up")
        latencies: list[float] = []
        for _ in range(cells):
            seen: list[float] = []

            def first_display(msg: dict[str, Any], seen: list[float] = seen) -> None:
                if not seen and msg["msg_type"] in ("display_data", "update_display_data"):
                    if "tok0" in msg["content"]["data"].get("text/plain", ""):
                        seen.append(time.monotonic())

            k.cell("go", first_display)
            latencies.append((seen[0] - server.first_sent[-1]) * 1000)
        server.tokens = long_tokens
        before = k.process.cpu_times()
        k.cell("a long answer")
        after = k.process.cpu_times()
        kernel_cpu = (after.user - before.user) + (after.system - before.system)
        script = subprocess.run(
            [sys.executable, "-c", BARE_SCRIPT, server.url, "a long answer"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
            env={**os.environ, "PYTHONPATH": spec.pythonpath},
        )
        return latencies, kernel_cpu, float(script.stdout.strip().splitlines()[-1])
    finally:
        k.close()
        server.close()


def bench(b: Any, quick: bool) -> None:
    """Add the agent-kernel rows to run.py's Bench ``b``."""
    spec = AgentSpec()
    med = statistics.median
    try:
        got = start_rounds(spec, 1 if quick else 3)
        py, ag = got["python3"], got[NAME]
        b.row(
            "agent kernel ready (first kernel_info reply)",
            med(py["ready"]),
            med(ag["ready"]),
            "s",
            "<= 1.2x",
        )
        b.row(
            "agent kernel: first chat cell answered, from the start (vs a `print` cell)",
            med(py["first"]),
            med(ag["first"]),
            "s",
            "<= 1.3x",
        )
        b.row(
            "agent kernel idle RSS, agent loaded (after /help vs `pass`)",
            med(py["idle"]),
            med(ag["idle"]),
            "MiB",
            "<= 1.4x",
        )
        b.row(
            "agent kernel RSS after its first turn",
            med(py["turned"]),
            med(ag["turned"]),
            "MiB",
            "(info)",
        )
        b.row("agent kernel shutdown", med(py["shutdown"]), med(ag["shutdown"]), "s", "<= 1.5x")
        n = 2 if quick else 10
        b.row(f"RSS per kernel, {n} in one silik tree", *ten_in_a_tree(spec, n), "MiB", "(info)")
        lat, kernel_cpu, bare_cpu = streaming(spec, 5 if quick else 30, 200 if quick else 2000)
        b.row(
            "agent: first streamed token -> first display on IOPub, median",
            None,
            med(lat),
            "ms",
            "<= 15 ms",
        )
        tokens = 200 if quick else 2000
        b.row(
            f"agent: CPU of a {tokens:,}-token answer (kernel vs bare script)",
            bare_cpu,
            kernel_cpu,
            "s",
            "<= 1.10x",
        )
    finally:
        spec.close()
