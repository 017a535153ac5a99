"""Cleanups an interrupt cannot cut short.

An interrupt cancels the cell's task; a start that is undoing itself (stopping
the kernels it launched, freeing their names) must finish that work, or the
kernels run on with nobody tracking them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def finish_cleanup(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even when the caller is cancelled meanwhile;
    such a cancellation is raised once the work is done."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
