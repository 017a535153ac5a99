"""A run read as a stream of events under a deadline: what run_code and
ask_agent share.

The run reads on in a task of its own and puts its events on a queue, so that a
timeout can interrupt the kernel without cancelling the reader: the output that
the interrupt still brings is kept. A run that the interrupt does not end within
``grace`` seconds either is left behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Ended:
    """The last item of :func:`timed_run`: the reader task (done or cancelled),
    and whether the deadline passed."""

    task: asyncio.Future[Any]
    timed_out: bool


async def timed_run(
    read: Callable[[Emit], Awaitable[Any]],
    *,
    timeout: float,
    grace: float,
    interrupt: Callable[[], Awaitable[None]],
    interrupt_if_abandoned: bool = False,
) -> AsyncIterator[dict[str, Any] | Ended]:
    """The events ``read(emit)`` emits, as they come, then one :class:`Ended`.

    At the deadline ``interrupt()`` is awaited and the run gets ``grace`` seconds
    more. A consumer that stops early cancels the reader; with
    ``interrupt_if_abandoned`` the kernel is interrupted first and given ``grace``
    seconds to end (an asked agent's turn, so that no kernel keeps working).
    """
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.ensure_future(read(events.put_nowait))
    task.add_done_callback(lambda _: events.put_nowait(None))  # None: it has ended
    timed_out = False
    finished = False
    deadline = time.monotonic() + max(float(timeout), 0.1)
    try:
        while True:
            try:
                event = await asyncio.wait_for(events.get(), max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                if timed_out:
                    break  # the interrupt did not end it either; stop waiting
                timed_out = True
                deadline = time.monotonic() + grace
                await interrupt()
                continue
            if event is None:
                break
            yield event
        finished = True
    finally:
        if not finished and interrupt_if_abandoned and not task.done():
            await interrupt()
            await asyncio.wait([task], timeout=grace)
        task.cancel()  # a no-op when it has ended; awaiting it retrieves its error
        try:
            await task
        except BaseException:
            pass
    yield Ended(task, timed_out)
