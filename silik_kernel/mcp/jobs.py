"""Cells an MCP client left running: run_code returns a job id after ``wait``
seconds, and get_output pages the rest of the output as it comes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from silik_kernel.tools.base import ToolError
from silik_kernel.tools.run_output import RunOutput

MAX_RUNNING = 64  # cells left running at once, over every kernel
MAX_FINISHED = 50  # finished jobs kept for get_output
FINISHED_TTL = 3600.0  # seconds a finished job is kept


@dataclass
class Job:
    """One run_code: its output so far, and the task reading the rest."""

    id: str
    path: str
    run: RunOutput
    task: asyncio.Task[dict[str, Any]] = field(init=False)
    ended: float | None = None
    images_shown: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return not self.task.done()

    def reply(self) -> dict[str, Any]:
        """How the cell ended (the run's result); empty while it runs."""
        if not self.task.done() or self.task.cancelled() or self.task.exception() is not None:
            return {}
        return self.task.result()

    def failure(self) -> ToolError | None:
        """Why the run could not go on (its kernel was stopped, a refusal)."""
        if self.task.done() and not self.task.cancelled():
            exc = self.task.exception()
            if isinstance(exc, ToolError):
                return exc
            if exc is not None:
                return ToolError(f"the run failed: {exc}")
        return None

    async def settle(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the cell to end; whether it has."""
        if self.running and seconds > 0:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), seconds)
            except (TimeoutError, Exception):
                pass
        return not self.running

    async def news(self, cursor: int, seconds: float) -> None:
        """Wait up to ``seconds`` for output past ``cursor`` or the cell's end."""
        deadline = time.monotonic() + seconds
        while self.running and self.run.chars <= cursor:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass


class Jobs:
    """The jobs of one MCP server, bounded: finished ones are dropped after
    FINISHED_TTL seconds or beyond MAX_FINISHED, running ones capped at MAX_RUNNING."""

    def __init__(self) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    def start(self, path: str, work: Callable[[Job], Coroutine[Any, Any, dict[str, Any]]]) -> Job:
        """A job running ``work(job)``, which adds the cell's output to ``job.run``."""
        self.prune()
        if sum(1 for j in self.jobs.values() if j.running) >= MAX_RUNNING:
            raise ToolError(
                f"{MAX_RUNNING} cells are running already; wait for some with get_output "
                "or interrupt_kernel them"
            )
        job = Job(uuid.uuid4().hex[:10], path, RunOutput())
        job.task = asyncio.ensure_future(work(job))

        def ended(_: Any) -> None:
            job.ended = time.monotonic()
            job.changed.set()

        job.task.add_done_callback(ended)
        self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job:
        self.prune()
        job = self.jobs.get(job_id)
        if job is None:
            raise ToolError(
                f"no job {job_id!r}: job ids come from run_code, and a finished job is "
                f"kept for {int(FINISHED_TTL // 60)} minutes (the last {MAX_FINISHED})"
            )
        return job

    def forget(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def prune(self) -> None:
        now = time.monotonic()
        finished = [j for j in self.jobs.values() if j.ended is not None]
        for job in finished:
            if now - job.ended > FINISHED_TTL:  # type: ignore[operator]
                del self.jobs[job.id]
        finished = [j for j in self.jobs.values() if j.ended is not None]
        for job in finished[: max(len(finished) - MAX_FINISHED, 0)]:
            del self.jobs[job.id]

    async def close(self) -> None:
        """Stop reading every running cell (the server is going away)."""
        tasks = [j.task for j in self.jobs.values() if j.running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
