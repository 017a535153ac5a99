"""silik against direct jupyter_client use, on the same machine, in one run.

    python benchmarks/run.py            # full run, prints the table
    python benchmarks/run.py --quick    # few iterations: a smoke test for CI
    python benchmarks/run.py --shutdown-sizes 8,50,180   # also shut down 180 kernels
    python benchmarks/run.py --encryption on   # every hop over CurveZMQ

Every figure is measured from a jupyter_client client: the time from sending a
request until both its reply and its iopub idle arrived. "direct" talks to a
python3 ipykernel; "silik" talks to a silik kernel relaying to a python3
sub-kernel. Every hop is plain TCP unless `--encryption on` (encryption.py);
the "CurveZMQ off vs on" rows time both in the same rounds. Ratios are
silik/direct. Exit status 1 if any output was lost or
landed in the wrong cell (never for timings: those are reported, not asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from queue import Empty
from typing import Any

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_kernels  # noqa: E402
import delegation  # noqa: E402
import mcp_transports  # noqa: E402
from encryption import ENV, cost_rows, kernel_manager  # noqa: E402
from relays import CProxy, PythonRelay  # noqa: E402
from shutdown import measure_shutdown  # noqa: E402

TIMEOUT = 120


class Client:
    """A blocking client that runs one cell and collects what came back for it."""

    #: every hop over CurveZMQ (--encryption on), or none
    encrypted = False

    def __init__(self, kernel_name: str, *, encrypted: bool | None = None) -> None:
        on = Client.encrypted if encrypted is None else encrypted
        self.km, env = kernel_manager(kernel_name, on)
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    @classmethod
    def of(cls, relay: CProxy | PythonRelay) -> Client:
        """A client of a reference relay (relays.py); closing it leaves the relay."""
        client = cls.__new__(cls)
        client.km = None  # type: ignore[assignment]
        client.kc = relay.client(TIMEOUT)
        return client

    def run(self, code: str, *, keep: bool = False) -> tuple[float, list[dict[str, Any]]]:
        start = time.perf_counter()
        msg_id = self.kc.execute(code)
        got_reply = got_idle = False
        outputs: list[dict[str, Any]] = []
        deadline = time.monotonic() + TIMEOUT
        while not (got_reply and got_idle):
            if time.monotonic() > deadline:
                raise TimeoutError(code)
            if not got_idle:
                try:
                    msg = self.kc.get_iopub_msg(timeout=0.5)
                except Empty:
                    continue
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    got_idle = True
                elif keep and kind not in ("status", "execute_input"):
                    outputs.append(msg)
            else:
                reply = self.kc.get_shell_msg(timeout=TIMEOUT)
                got_reply = reply["parent_header"].get("msg_id") == msg_id
        return time.perf_counter() - start, outputs

    def run_pipelined(self, codes: list[str]) -> list[list[dict[str, Any]]]:
        """Send every cell at once, then collect each cell's stream outputs by parent."""
        ids = [self.kc.execute(code) for code in codes]
        outputs: list[list[dict[str, Any]]] = [[] for _ in ids]
        idle: set[str] = set()
        deadline = time.monotonic() + TIMEOUT
        while len(idle) < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError(codes)
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent not in ids:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle.add(parent)
            elif msg["msg_type"] == "stream":
                outputs[ids.index(parent)].append(msg)
        for _ in ids:
            self.kc.get_shell_msg(timeout=TIMEOUT)
        return outputs

    def ok(self, code: str) -> None:
        _, outs = self.run(code, keep=True)
        errors = [m for m in outs if m["msg_type"] == "error"]
        if errors:
            raise RuntimeError(f"{code!r}: {errors[0]['content']}")

    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def close(self) -> float:
        start = time.perf_counter()
        self.kc.stop_channels()
        if self.km is not None:
            self.km.shutdown_kernel(now=False)
        return time.perf_counter() - start


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.failures: list[str] = []

    def row(self, measure: str, direct: float | None, silik: float, unit: str, target: str) -> None:
        if direct is None:
            self.rows.append((measure, "-", f"{silik:.2f} {unit}", "-", target))
            return
        if unit == "ms+":
            ratio = f"{(silik - direct):+.2f} ms"
        else:
            ratio = f"{silik / direct:.2f}x" if direct else "-"
        self.rows.append(
            (
                measure,
                f"{direct:.2f} {unit.rstrip('+')}",
                f"{silik:.2f} {unit.rstrip('+')}",
                ratio,
                target,
            )
        )
        print(f"  {measure}: direct {direct:.3f}, silik {silik:.3f} {unit} -> {ratio}", flush=True)

    def lost(self, measure: str, count: int) -> None:
        self.rows.append((measure, "-", f"{count}", "-", "0"))
        print(f"  {measure}: {count}", flush=True)
        if count:
            self.failures.append(f"{measure}: {count}")

    def table(self) -> str:
        head = ("measure", "direct", "silik", "silik/direct", "target")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(5)]

        def fmt(r: tuple[str, ...]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([fmt(head), sep, *(fmt(r) for r in self.rows)])


def repeat(fn: Callable[[], float], n: int) -> list[float]:
    return [fn() for _ in range(n)]


def interleaved(
    a: Callable[[], float], b: Callable[[], float], n: int
) -> tuple[list[float], list[float]]:
    """n timings of each, alternating, so a drifting machine biases neither side."""
    xs, ys = [], []
    for _ in range(n):
        xs.append(a())
        ys.append(b())
    return xs, ys


def lines_in(outputs: list[dict[str, Any]]) -> int:
    return sum(
        m["content"]["text"].count("\n")
        for m in outputs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke test)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--shutdown-sizes",
        help="kernels in each silik shut down once, comma-separated "
        "(default 8,50; --quick: 2; 180 takes about 3 minutes to start)",
    )
    parser.add_argument(
        "--encryption",
        choices=("off", "on"),
        default="off",
        help="CurveZMQ on every hop: frontend to kernel, silik to its sub-kernels (default off)",
    )
    parser.add_argument("--agents", action="store_true", help="only the agent-kernel rows")
    parser.add_argument("--mcp", action="store_true", help="only the MCP rows (mcp_transports.py)")
    args = parser.parse_args()
    Client.encrypted = args.encryption == "on"
    # The kernels silik starts, and those of the in-process service (agent_tool_overhead).
    os.environ[ENV] = "required" if Client.encrypted else "disabled"
    quick = args.quick
    b = Bench(quick)
    if args.agents:
        agent_kernels.bench(b, quick)
        delegation.bench(b, quick)
        return report(b, args)
    if args.mcp:
        mcp_transports.bench(b, quick)
        return report(b, args)
    n_cells = 20 if quick else 200
    n_lines = 5_000 if quick else 100_000
    n_flush = 500 if quick else 5_000
    n_kernels = 2 if quick else 8
    n_tree = 4 if quick else 32
    n_alt = 40 if quick else 1000
    n_rounds = 1 if quick else 3  # of each one-shot measure (starts, shutdown)
    n_line_rounds = 3 if quick else 9  # printing lines: noisier (three busy processes)

    print("starting kernels...", flush=True)
    direct = Client("python3")
    silik = Client("silik")
    try:
        # -- idle memory: both freshly started, nothing run yet ------------------
        time.sleep(2)
        direct_rss = psutil.Process(direct.pid()).memory_info().rss / 2**20
        silik_rss = psutil.Process(silik.pid()).memory_info().rss / 2**20
        b.row(
            "idle RSS, fresh (silik vs a plain python3 ipykernel)",
            direct_rss,
            silik_rss,
            "MiB",
            "<= 1.0x",
        )

        silik.ok("new python3 -l k1")

        # -- connect-mode round trip ---------------------------------------
        # Timed in the same rounds as two reference relays (relays.py, not silik), each
        # a process of its own as silik is: what that process and its ZMQ hops cost
        # by themselves (the C proxy), and with the least Python work per message.
        silik.ok("> k1.py")
        c_proxy, py_relay = CProxy(), PythonRelay()
        via_c, via_py = Client.of(c_proxy), Client.of(py_relay)
        try:
            clients = [direct, silik, via_c, via_py]
            for _ in range(10):
                for c in clients:
                    c.run("pass")
            times: list[list[float]] = [[] for _ in clients]
            for i in range(n_cells):
                # Each round starts one client later (0123, 1230, 2301, ...): no client
                # runs twice in a row. Rounds alternating 0123 / 3210 ran the end clients
                # (direct among them) twice in a row at every turn, on warm processes:
                # on a 2-core machine silik's ratio came out about 0.02x higher.
                for j in range(len(clients)):
                    k = (i + j) % len(clients)
                    times[k].append(clients[k].run("pass")[0] * 1000)
        finally:
            for client in (via_c, via_py):
                client.close()
            c_proxy.close()
            py_relay.close()
        d, s, c, p = times
        label = f"connect-mode round trip, %s ({n_cells} cells)"
        target = "<= 1.20x and <= Python relay + 0.03x"
        b.row(label % "median", statistics.median(d), statistics.median(s), "ms", target)
        b.row(label % "p95", pct(d, 95), pct(s, 95), "ms", "(info)")
        b.row(
            "reference relay, not silik: libzmq's C proxy, own process (no Python), median",
            statistics.median(d),
            statistics.median(c),
            "ms",
            "(info)",
        )
        b.row(
            "reference relay, not silik: minimal Python relay (check, re-sign)",
            statistics.median(d),
            statistics.median(p),
            "ms",
            "(info)",
        )
        over = (statistics.median(s) - statistics.median(p)) / statistics.median(d)
        b.rows.append(
            ("connect mode: silik minus the Python relay", "-", f"{over:+.3f}x", "-", "<= +0.03x")
        )
        print(f"  silik minus the Python relay: {over:+.3f}x of direct", flush=True)

        # -- many lines ---------------------------------------------------------
        # One-shot measures are repeated (alternately) and their medians compared.
        for label, count, code, target in (
            (
                f"a cell printing {n_lines:,} lines",
                n_lines,
                f"for i in range({n_lines}): print(i)",
                "<= 1.05x",
            ),
            (
                f"{n_flush:,} lines with flush=True",
                n_flush,
                f"for i in range({n_flush}): print(i, flush=True)",
                "<= 1.15x",
            ),
        ):
            lost_lines = 0

            def silik_lines(code: str = code, count: int = count) -> float:
                nonlocal lost_lines
                took, outs = silik.run(code, keep=True)
                lost_lines += count - lines_in(outs)
                return took

            d, s = interleaved(lambda code=code: direct.run(code)[0], silik_lines, n_line_rounds)
            b.row(label, statistics.median(d), statistics.median(s), "s", target)
            b.lost(f"lines lost of {count:,} x {n_line_rounds} (silik)", lost_lines)
        silik.ok("/cmd")

        # -- run command ----------------------------------------------------
        d, s = interleaved(
            lambda: direct.run("pass")[0] * 1000,
            lambda: silik.run('run "pass" k1.py')[0] * 1000,
            n_cells,
        )
        b.row(
            '`run "pass" k1.py` round trip, median',
            statistics.median(d),
            statistics.median(s),
            "ms",
            "<= 1.2x",
        )

        # -- CurveZMQ: the same cells encrypted and plain, in the same rounds ----
        cost_rows(b, Client, n_cells)

        # -- agent run_code tool (in-process service, as an agent kernel uses it) --
        b.row(
            "agent run_code tool vs direct execute, median",
            *agent_tool_overhead(n_cells // 2),
            "ms+",
            "<= +5 ms",
        )

        # -- misrouting: slow late-printing cells, each followed at once by a quick one --
        silik.ok("> k1.py")
        misrouted = lost = 0
        for i in range(0, n_alt, 2):
            slow = (
                f"import time\nprint('early {i}', flush=True)\ntime.sleep(0.01)\nprint('late {i}')"
            )
            quick = f"print('quick {i + 1}')"
            outputs = silik.run_pipelined(
                [slow, quick]
            )  # the quick cell is sent before the slow one ends
            expected = {0: [f"early {i}", f"late {i}"], 1: [f"quick {i + 1}"]}
            for cell, want in expected.items():
                # Join first: a stream may split a line across messages.
                got = "".join(m["content"]["text"] for m in outputs[cell]).splitlines()
                misrouted += sum(1 for ln in got if ln not in want)
                lost += sum(1 for ln in want if ln not in got)
        silik.ok("/cmd")
        b.lost(f"outputs in the wrong cell ({n_alt} alternating cells)", misrouted)
        b.lost(f"outputs lost ({n_alt} alternating cells)", lost)
        silik.ok("stop k1.py")

        # -- starting kernels ------------------------------------------------
        d, s = [], []
        for i in range(n_rounds):
            d.append(direct_concurrent_start(n_kernels))
            if i:
                silik.ok("rm -r started")
            took, outs = silik.run(
                f"mkdir started\nnew python3 -n {n_kernels} -d started", keep=True
            )
            if any(m["msg_type"] == "error" for m in outs):
                raise RuntimeError(f"silik could not start {n_kernels} kernels: {outs}")
            s.append(took)
        b.row(
            f"start {n_kernels} python3 kernels (one silik cell vs concurrent direct)",
            statistics.median(d),
            statistics.median(s),
            "s",
            "<= 1.1x",
        )

        # -- RSS with kernels: for information (silik now holds clients and routes) --
        time.sleep(1)
        loaded = psutil.Process(silik.pid()).memory_info().rss / 2**20
        b.row(f"silik RSS managing {n_kernels} kernels", None, loaded, "MiB", "(info)")

        # -- tree and ls with many kernels -------------------------------------
        more = n_tree - n_kernels
        if more > 0:
            silik.ok(f"mkdir many\nnew python3 -n {more} -d many")
        t_tree = statistics.median(repeat(lambda: silik.run("tree")[0] * 1000, 20))
        t_ls = statistics.median(repeat(lambda: silik.run("ls")[0] * 1000, 20))
        b.row(f"`tree` with {n_tree} kernels", None, t_tree, "ms", "< 20 ms")
        b.row(f"`ls` with {n_tree} kernels", None, t_ls, "ms", "< 20 ms")
        if more > 0:
            silik.ok("rm -r many")

    finally:
        direct.close()
        silik.close()

    # -- shutdown: a fresh silik with n kernels each round ------------------------
    d, s = [], []
    for _ in range(n_rounds):
        d.append(direct_concurrent_shutdown(n_kernels))
        fresh = Client("silik")
        try:
            fresh.ok(f"new python3 -n {n_kernels}")
        finally:
            s.append(fresh.close())
    b.row(
        f"shut down silik with {n_kernels} kernels vs {n_kernels} kernels directly",
        statistics.median(d),
        statistics.median(s),
        "s",
        "<= 1.5x",
    )
    # -- shutdown with many kernels: what a frontend waits, and what is left -----
    sizes = args.shutdown_sizes or ("2" if quick else "8,50")
    for n in (int(x) for x in sizes.split(",") if x.strip()):
        r = measure_shutdown(n)
        b.row(
            f"shut down silik with {n} kernels (jupyter_client: SIGTERM at 2.5 s); {r.ended}",
            None,
            r.seconds,
            "s",
            "< 2.5 s",
        )
        b.lost(
            f"files and processes left by that shutdown ({n} kernels)",
            r.files_left + r.processes_left,
        )
    agent_kernels.bench(b, quick)
    delegation.bench(b, quick)
    if importlib.util.find_spec("mcp") is not None:  # the optional extra silik[mcp]
        mcp_transports.bench(b, quick)
    return report(b, args)


def report(b: Bench, args: argparse.Namespace) -> int:
    print()
    print(b.table())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": b.rows, "failures": b.failures, "quick": b.quick}, f, indent=2)
    if b.failures:
        print("\nLOST OR MISROUTED OUTPUT:", "; ".join(b.failures))
        return 1
    return 0


def direct_concurrent_start(n: int) -> float:
    """n kernels started concurrently and ready (kernel_info answered), directly."""

    async def go() -> tuple[float, list[Any]]:
        from jupyter_client.manager import AsyncKernelManager

        policy = "required" if Client.encrypted else "disabled"

        kms = [
            AsyncKernelManager(kernel_name="python3", transport_encryption=policy) for _ in range(n)
        ]
        start = time.perf_counter()
        await asyncio.gather(*(k.start_kernel() for k in kms))

        async def ready(km: Any) -> Any:
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=TIMEOUT)
            return kc

        clients = await asyncio.gather(*(ready(k) for k in kms))
        took = time.perf_counter() - start
        for kc in clients:
            kc.stop_channels()
        await asyncio.gather(*(k.shutdown_kernel(now=True) for k in kms))
        return took, kms

    return asyncio.run(go())[0]


def direct_concurrent_shutdown(n: int) -> float:
    async def go() -> float:
        from jupyter_client.manager import AsyncKernelManager

        policy = "required" if Client.encrypted else "disabled"

        kms = [
            AsyncKernelManager(kernel_name="python3", transport_encryption=policy) for _ in range(n)
        ]
        await asyncio.gather(*(k.start_kernel() for k in kms))
        for km in kms:
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=TIMEOUT)
            kc.stop_channels()
        start = time.perf_counter()
        await asyncio.gather(*(k.shutdown_kernel(now=False) for k in kms))
        return time.perf_counter() - start

    return asyncio.run(go())


def agent_tool_overhead(n: int) -> tuple[float, float]:
    """Median ms of a direct execute vs the agent's run_code tool on the same kernel."""

    async def go() -> tuple[float, float]:
        from pydantic_ai import RunContext  # noqa: F401  (pydantic-ai must be importable)

        from silik_agents.toolset import LocalBackend, silik_toolset

        backend = LocalBackend(caller="bench")
        try:
            tools = silik_toolset(backend)
            await backend.manager.start("python3", ["b"], started_by="bench", owner="bench")
            sub = backend.manager.subkernel("~/b.py")
            run_code = tools.tools["run_code"].function

            async def direct_once() -> float:
                t = time.perf_counter()
                async for _ in sub.execute("pass"):
                    pass
                return (time.perf_counter() - t) * 1000

            async def tool_once() -> float:
                t = time.perf_counter()
                await run_code("~/b.py", "pass")
                return (time.perf_counter() - t) * 1000

            for _ in range(5):
                await direct_once(), await tool_once()
            d = [await direct_once() for _ in range(n)]
            s = [await tool_once() for _ in range(n)]
            return statistics.median(d), statistics.median(s)
        finally:
            await backend.close()

    return asyncio.run(go())


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main())
