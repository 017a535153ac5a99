"""LivenessWatcher: a death is reported once it is sure, and a real kernel's death fails its run."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from silik_kernel.errors import KernelDiedError
from silik_kernel.subkernels.liveness import LivenessWatcher
from silik_kernel.subkernels.subkernel import SubKernel


async def test_deaths_are_reported_after_the_allowed_misses_and_not_while_paused():
    answers = iter([True, False, True, False, False, False])
    deaths: list[int] = []
    paused = False
    probes = 0

    async def probe() -> bool:
        nonlocal probes
        probes += 1
        answer = next(answers, False)
        if probes == 5:
            raise OSError("a probe that fails counts as a miss")
        return answer

    two_deaths = asyncio.Event()

    async def on_death() -> None:
        deaths.append(probes)
        if len(deaths) == 2:
            two_deaths.set()

    watcher = LivenessWatcher(probe, on_death, interval=0.01, misses=2, paused=lambda: paused)
    task = asyncio.ensure_future(watcher.run())
    try:
        await asyncio.wait_for(two_deaths.wait(), 5)
        assert deaths[:2] == [5, 6]  # one miss (2nd probe) is forgiven by the 3rd
        paused = True
        seen = probes
        await asyncio.sleep(0.1)
        assert probes == seen
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_killed_kernel_fails_the_waiting_run_within_two_seconds():
    sub = await SubKernel.start("python3", timeout=60)
    try:
        run = sub.begin_execute("import time; time.sleep(30)")
        await asyncio.sleep(0.5)
        assert sub.pid is not None
        killed = time.monotonic()
        os.kill(sub.pid, signal.SIGKILL)
        with pytest.raises(KernelDiedError):
            await asyncio.wait_for(run.drain(lambda msg: None), 10)
        assert time.monotonic() - killed < 2.5
        assert sub.dead_reason
    finally:
        await sub.shutdown(now=True)
