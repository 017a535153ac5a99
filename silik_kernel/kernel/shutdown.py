"""Stopping: interrupting a cell's kernels, waiting for a restart, stopping and
killing what silik owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from silik_kernel.kernel.connect import CellState
from silik_kernel.manager import KernelRecord, SilikManager
from silik_kernel.runtime_files import remove_private_dir

log = logging.getLogger("silik.shutdown")

#: seconds an interrupted kernel has to end the cell before silik ends it without it
INTERRUPT_GRACE = 2.0
#: seconds sub-kernels get to exit on their own when silik shuts down, before they
#: are killed: all of them at once, well within the 2.5 s jupyter_client gives silik
#: before it sends SIGTERM (and 5 s before SIGKILL)
SHUTDOWN_GRACE = 1.5
#: seconds silik's shutdown waits for them (and the bridge) before killing whatever is left
SHUTDOWN_WAIT = SHUTDOWN_GRACE + 0.4


async def await_auto_restart(rec: KernelRecord) -> None:
    """Give jupyter_client's restarter the time to take a death it has not seen yet.

    Our watcher usually notices a death before the restarter (it polls); a kernel
    that is coming back must not end connect mode.
    """
    process = rec.sub.process if rec.sub is not None else None
    if process is None or not process.restarts_after_death():
        return  # attached, remote, or the restarter gave up: it will not come back
    for _ in range(int((process.death_noticed_within() + 0.3) / 0.05)):
        if rec.status != "dead":
            return
        await asyncio.sleep(0.05)


def kill_children_now(manager: SilikManager) -> None:
    """Last resort (at exit, after a shutdown that did not finish): no owned
    sub-kernel outlives silik, and no connection file stays behind."""
    for rec in manager.owned_records():
        if rec.sub is not None and rec.sub.process is not None:
            rec.sub.process.kill_now()  # SIGKILL, not waited for: nothing can stop it


async def interrupt_all(manager: SilikManager, paths: Iterable[str]) -> bool:
    """Interrupt each kernel at ``paths``; True if at least one was interrupted."""
    unique = list(dict.fromkeys(paths))
    results = await asyncio.gather(*(manager.interrupt(p) for p in unique), return_exceptions=True)
    return any(r is None for r in results)


async def interrupt_cell(
    manager: SilikManager, state: CellState, cancel_cell: Callable[[], None]
) -> None:
    """Interrupt every kernel the cell runs code on; with none, cancel the cell.

    A kernel that does not end the cell within INTERRUPT_GRACE (stopped, hung)
    does not hold it: the cell is cancelled, and its error names that kernel.
    """
    state.interrupted = True
    state.unresponsive = []
    cell = state.task
    if not await interrupt_all(manager, state.running):
        cancel_cell()
        return
    if cell is None:
        return
    await asyncio.wait([cell], timeout=INTERRUPT_GRACE)
    if not cell.done() and state.task is cell:
        state.unresponsive = list(dict.fromkeys(state.running))
        cell.cancel()


async def stop_everything(manager: SilikManager, bridge: Any, mcp: Any = None) -> None:
    """The files first (they hold keys; a silik killed meanwhile leaves none), then
    every owned sub-kernel at once, while the MCP server (if any) stops taking
    requests, then the bridge; whatever does not stop is killed."""
    remove_private_dir()
    closing = asyncio.ensure_future(mcp.stop()) if mcp is not None else None
    try:
        await manager.shutdown_all(grace=SHUTDOWN_GRACE)
    except Exception:
        log.exception("stopping sub-kernels")
    finally:
        if closing is not None:
            try:
                await closing
            except Exception:
                log.exception("stopping the MCP server")
        if bridge is not None:
            await bridge.stop()
        kill_children_now(manager)
