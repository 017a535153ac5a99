"""silik-timeit: compare how long the same code takes on several kernels.

A silik plugin. Installed, it adds ``timeit`` to every silik kernel started
afterwards, through the ``silik.commands`` entry point in pyproject.toml, which
names the ``commands`` registry below.
"""

from __future__ import annotations

import statistics
from typing import Any

from silik_kernel.api import (
    Arg,
    CommandRegistry,
    Context,
    ExecuteOptions,
    KernelDone,
    Opt,
    Output,
    SilikError,
)

__all__ = ["commands"]

commands = CommandRegistry()

# Runs that print nothing and leave the kernels' history alone.
QUIET = ExecuteOptions(silent=True, store_history=False)


@commands.command(
    "timeit",
    "Time the same code on several kernels and compare them in a table.",
    args=[
        Arg("code", "the code to time, in quotes", kind="code"),
        Arg("paths", "the kernels; globs like ~/workers/* name several", "kernel", "+"),
    ],
    options=[
        Opt(
            ("-n", "--runs"), "runs", "runs on each kernel (default 5)", "N", kind="int", default=5
        ),
        Opt(("-s", "--serial"), "serial", "time one kernel at a time, not all at once"),
    ],
    details=(
        "A run is timed from sending the code to the kernel being idle again, as silik\n"
        "sees it, so it includes a millisecond or so of messaging. Output is not shown.\n"
        "Kernels run concurrently unless -s is given; on a busy machine -s is fairer.\n"
        "The cell fails if the code fails on a kernel (`broadcast` shows the error)."
    ),
    examples=["timeit 'sum(range(10**6))' ~/workers/*", "timeit -n 20 -s 'x = 1' a.py b.py"],
)
async def timeit(ctx: Context, values: dict[str, Any]) -> Output:
    runs: int = values["runs"]
    if runs < 1:
        raise SilikError("timeit: -n must be at least 1", hint="e.g. timeit -n 10 'CODE' a.py")
    paths = ctx.kernel_paths(values["paths"])
    times: dict[str, list[float]] = {path: [] for path in paths}
    failed: dict[str, str] = {}
    for group in [[p] for p in paths] if values["serial"] else [paths]:
        for _ in range(runs):
            live = [p for p in group if p not in failed]
            if not live:
                break
            # One round: the code once on every live kernel of the group, concurrently.
            async for event in ctx.run_many(live, values["code"], QUIET):
                if isinstance(event, KernelDone):
                    if event.ok:
                        times[event.path].append(event.seconds)
                    else:
                        failed[event.path] = event.error or "failed"
    failed = {p: failed[p] for p in paths if p in failed}  # in the order they were named
    table = Output.table(
        ["kernel", "runs", "best", "median", "worst", "vs fastest"], _rows(times, failed)
    )
    if failed:
        ctx.show(table)
        raise SilikError(
            f"timeit: the code failed on {', '.join(failed)}",
            hint="`broadcast` the same code to see the errors",
        )
    return table


def _rows(times: dict[str, list[float]], failed: dict[str, str]) -> list[list[str]]:
    """Fastest kernel first; kernels where the code failed last, with the error."""
    timed = sorted((min(t), path) for path, t in times.items() if t and path not in failed)
    fastest = timed[0][0] if timed else 0.0
    rows = []
    for best, path in timed:
        t = times[path]
        stats = [_duration(best), _duration(statistics.median(t)), _duration(max(t))]
        rows.append([path, str(len(t)), *stats, f"{best / fastest:.2f}x" if fastest else "-"])
    rows += [[p, str(len(times[p])), "failed", "", "", err] for p, err in failed.items()]
    return rows


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
