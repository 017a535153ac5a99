"""Whether a kernel can take requests now, and why not.

The parts that find out that a kernel died or came back (the liveness watcher,
jupyter_client's restarter, a gateway's events, a dropped websocket) and the
parts that ask before sending share one :class:`KernelHealth`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from silik_kernel.errors import KernelDiedError
from silik_kernel.subkernels.routing import MessageRouter


class KernelHealth:
    """A kernel's death, its way back, and what the user has yet to be told.

    ``recovering``: a restart is under way, so requests may go to a kernel marked
    dead (kernel_info, to see it answer) and its death is expected.
    ``comeback``: the background task that brings the kernel back after an
    automatic restart or a dropped connection; requests wait for it
    (:meth:`wait_back`).
    """

    def __init__(self, router: MessageRouter) -> None:
        self.router = router
        self.dead_reason: str | None = None
        self.restarted_unseen = False  # state lost in an automatic restart, not yet told
        self.recovering = False
        self.comeback: asyncio.Task | None = None

    def check(self) -> None:
        """Raise KernelDiedError when the kernel is dead and not on its way back."""
        if self.dead_reason and not self.recovering:
            raise KernelDiedError(self.dead_reason)

    def mark_dead(self, reason: str) -> None:
        """The kernel is dead: fail every request that waits on it."""
        self.dead_reason = reason
        self.router.execution_state = "dead"
        self.router.fail_pending(reason)

    def mark_alive(self, state: str = "idle") -> None:
        self.dead_reason = None
        self.router.execution_state = state

    def come_back(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (bringing the kernel back) in the background, instead of an
        earlier attempt; requests wait for it, and it may send while the kernel is dead."""
        if self.comeback is not None:
            self.comeback.cancel()
        self.recovering = True
        self.comeback = asyncio.ensure_future(self._run_comeback(work))

    async def _run_comeback(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            if self.comeback is asyncio.current_task():
                self.recovering = False
                self.comeback = None

    def cancel_comeback(self) -> None:
        """Stop bringing the kernel back (it ends as soon as the task sees it)."""
        if self.comeback is not None:
            self.comeback.cancel()

    def drop_comeback(self) -> bool:
        """Stop bringing the kernel back and forget it now; say whether one was under way."""
        task, self.comeback = self.comeback, None
        if task is None:
            return False
        task.cancel()
        return True

    async def wait_back(self, timeout: float = 30.0) -> None:
        """Let a comeback in progress finish before sending a request.

        A kernel that dies again while coming back gets a new comeback: wait for
        that one too, but never longer than ``timeout`` in all.
        """
        deadline = time.monotonic() + timeout
        while (task := self.comeback) is not None and not task.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelDiedError(f"the kernel did not come back within {timeout:g} s")
            await asyncio.wait({task}, timeout=remaining)
