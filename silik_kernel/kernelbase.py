"""What silik's kernels share on top of ipykernel's Kernel."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from ipykernel.kernelbase import Kernel


class MainLoopKernel(Kernel):
    """A kernel whose state lives on the main event loop.

    Control messages (interrupt, shutdown) arrive on ipykernel's control thread;
    :meth:`on_main_loop` runs a coroutine on the main loop and waits for it.
    """

    _main_loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        super().start()
        self._main_loop = asyncio.get_event_loop()

    async def on_main_loop(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """From the control thread: run ``coro`` on the main loop, wait at most ``timeout``."""
        if self._main_loop is None or not self._main_loop.is_running():
            coro.close()
            return None
        fut = asyncio.run_coroutine_threadsafe(coro, self._main_loop)
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout=timeout)

    async def shutdown_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """As ipykernel's, but the main loop stops a moment after the control loop.

        ipykernel stops both loops at once; the control thread then flushes its
        output through the IOPub thread that the main thread is already closing,
        and the process hangs for the 10 s flush timeout before it exits.
        """
        content = await self.do_shutdown(parent["content"]["restart"])
        self.session.send(stream, "shutdown_reply", content, parent, ident=ident)
        self._shutdown_message = self.session.msg("shutdown_reply", content, parent)
        await self._at_shutdown()
        if self.control_stream:
            control_loop = self.control_stream.io_loop
            control_loop.add_callback(control_loop.stop)
        main_loop = self.io_loop
        main_loop.add_callback(lambda: main_loop.call_later(0.2, main_loop.stop))
