"""What silik's kernels share on top of ipykernel's Kernel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ipykernel._version import kernel_protocol_version
from ipykernel.kernelbase import Kernel


class MainLoopKernel(Kernel):
    """A kernel whose state lives on the main event loop.

    Control messages (interrupt, shutdown) arrive on ipykernel's control thread;
    :meth:`on_main_loop` runs a coroutine on the main loop and waits for it.
    """

    _main_loop: asyncio.AbstractEventLoop | None = None

    @property
    def kernel_info(self) -> dict[str, Any]:
        # No subshells (the app disables them) and no debugger. ipykernel's own
        # kernel_info imports its debugger (debugpy: ~7 MB, ~70 ms) to find that out.
        return {
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": self.help_links,
            "supported_features": [],
        }

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

    async def ask_frontend(
        self,
        prompt: str,
        password: bool,
        parent: dict[str, Any],
        ident: Any,
        stop: Callable[[], bool] = lambda: False,
    ) -> str:
        """An input_request to the frontend, awaited without blocking the main loop.

        ipykernel's own raw_input blocks the loop until the answer comes; here the
        loop keeps serving (bridges, other kernels' output), and ``stop()`` (an
        interrupt, say) ends the wait with "".
        """
        while self.stdin_socket.poll(0):  # drop stale replies
            self.stdin_socket.recv_multipart()
        self.session.send(
            self.stdin_socket,
            "input_request",
            {"prompt": prompt, "password": password},
            parent,
            ident=ident,
        )
        while not stop():
            if self.stdin_socket.poll(0):
                _ident, reply = self.session.recv(self.stdin_socket)
                if reply is not None:
                    return str(reply["content"].get("value", ""))
            await asyncio.sleep(0.01)
        return ""

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
        # Without an IOPub thread (silik's DirectIOPub) there is nothing to wait for.
        delay = 0.2 if getattr(self.iopub_thread, "thread", None) is not None else 0.0
        main_loop.add_callback(lambda: main_loop.call_later(delay, main_loop.stop))
