"""Noticing that a kernel died while requests wait on it.

A dead kernel sends nothing: without a watcher, a cell waiting for its reply
would wait forever. The watcher asks a probe (the process, or the heartbeat of
a kernel silik only attached to) every ``interval`` seconds and reports a death
once, so that the waiting requests fail within about two seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class LivenessWatcher:
    """Calls ``on_death`` when ``probe`` says False ``misses`` times in a row.

    ``paused`` says when not to look (a restart in progress: the kernel is away on
    purpose). After a death the watcher keeps looking: a kernel that comes back
    (an automatic restart) is watched again.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        on_death: Callable[[], Awaitable[None]],
        *,
        interval: float,
        misses: int = 1,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self.probe = probe
        self.on_death = on_death
        self.interval = interval
        self.misses = misses
        self.paused = paused

    async def run(self) -> None:
        """Watch until cancelled."""
        missed = 0
        while True:
            await asyncio.sleep(self.interval)
            if self.paused():
                continue
            try:
                alive = await self.probe()
            except Exception:
                alive = False
            if alive:
                missed = 0
                continue
            missed += 1
            if missed >= self.misses:
                await self.on_death()
