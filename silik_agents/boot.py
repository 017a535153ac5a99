"""BootKernel: what `python -m silik_agents run TARGET` starts, ready before pydantic-ai loads.

Importing pydantic-ai and the agent's module takes longer than starting a
plain python kernel. BootKernel answers kernel_info at once and imports them
in a thread; once that is done it becomes the target's kernel class on the
main loop (see :func:`become`). A request that needs the agent (a cell,
completion, inspection) waits for that; if loading failed, a cell shows why
and the kernel stays up.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from typing import Any

from silik_agents import __version__
from silik_agents.identity import IMPLEMENTATION, LANGUAGE_INFO, plain_banner
from silik_kernel.kernel.base import CellHistory, MainLoopKernel, error_content, error_reply

log = logging.getLogger("silik.agents")


class BootKernel(MainLoopKernel):
    """Stands in for the agent kernel class until its module is imported."""

    implementation = IMPLEMENTATION
    implementation_version = __version__
    language_info = LANGUAGE_INFO
    help_links: list[dict[str, str]] = []

    #: ``PACKAGE.MODULE:ATTR`` to load, and the kernelspec's name (set by `run`)
    agent_target = ""
    kernel_name: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_kwargs = kwargs  # the loaded class's __init__ gets them too
        self.cell_history = CellHistory()
        self._loaded = asyncio.Event()  # set on the main loop, by _become
        self._load_failure: str | None = None

    @property
    def banner(self) -> str:  # type: ignore[override]
        return plain_banner(self.kernel_name or self.agent_target.rpartition(":")[2])

    def start(self) -> None:
        super().start()
        threading.Thread(target=self._load, name="silik-agent-load", daemon=True).start()

    def _load(self) -> None:
        """In a thread: import the target (and pydantic-ai); the main loop swaps the class."""
        try:
            from silik_agents.target import kernel_class_for

            cls: type | None = kernel_class_for(self.agent_target, self.kernel_name)
        except BaseException as exc:  # a missing pydantic-ai, say
            cls = None
            self._load_failure = "".join(traceback.format_exception_only(exc)).strip()
        loop = self._main_loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._become, cls)
        except RuntimeError:  # the loop closed meanwhile: the kernel is exiting
            pass

    def _become(self, cls: type | None) -> None:
        old_class = type(self)
        try:
            if cls is not None and not self.shutting_down:
                become(self, cls)
        except Exception:
            # Half set up is worse than not loaded: stay as we were, and every cell says why.
            self.__class__ = old_class
            _rebind_handlers(self)
            self._load_failure = traceback.format_exc().strip()
            log.error("could not set up the agent kernel", exc_info=True)
        finally:
            self._loaded.set()

    async def _wait_loaded(self) -> bool:
        """Whether the agent's kernel class took over (False: the load failed)."""
        await self._loaded.wait()
        return not isinstance(self, BootKernel)

    # -- requests that need the agent: wait for it, then ask the loaded class --------
    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        loaded = await self.run_cancellable(self._wait_for_cell(), self._interrupted)
        if loaded.get("status") != "ok":
            return loaded
        return await self.do_execute(  # the loaded class's
            code,
            silent,
            store_history,
            user_expressions,
            allow_stdin,
            cell_meta=cell_meta,
            cell_id=cell_id,
        )

    async def _wait_for_cell(self) -> dict[str, Any]:
        if await self._wait_loaded():
            return {"status": "ok"}
        hint = (
            f"install what it needs in the Python this kernel runs ({sys.executable}), "
            "then restart the kernel"
        )
        return self._publish_error(
            "AgentLoadError",
            f"could not load the agent {self.agent_target}: {self._load_failure}\n({hint})",
        )

    def _interrupted(self) -> dict[str, Any]:
        return self._publish_error("KeyboardInterrupt", "interrupted while the agent was loading")

    def _publish_error(self, ename: str, evalue: str) -> dict[str, Any]:
        content = error_content(ename, evalue, [f"{ename}: {evalue}"])
        parent = self.get_parent("shell")
        self.session.send(self.iopub_socket, "error", content, parent, ident=self._topic("error"))
        return error_reply(self.execution_count, content)

    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        if await self._wait_loaded():
            return await self.do_complete(code, cursor_pos)
        return await super().do_complete(code, cursor_pos)

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        if await self._wait_loaded():
            return await self.do_inspect(code, cursor_pos, detail_level, omit_sections)
        return await super().do_inspect(code, cursor_pos, detail_level, omit_sections)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        # Not loaded yet: nothing of the agent's to stop (the loading thread is a daemon).
        self.shutting_down = True
        return {"status": "ok", "restart": restart}


def become(kernel: BootKernel, cls: type) -> None:
    """Turn the running ``kernel`` into an instance of ``cls`` (an AgentKernel subclass).

    The sockets, session and handlers ipykernel set up stay; ``cls.__init__``
    then runs with the kernel's own arguments, and the AgentKernel base skips
    ipykernel's part of it (``_booted``). Traits and observers that
    ``cls`` declares get their per-instance setup, as at construction.
    """
    old = type(kernel)
    kernel._booted = True
    kernel.__class__ = cls
    for init in cls._instance_inits:  # type: ignore[attr-defined]
        if init not in old._instance_inits:  # type: ignore[attr-defined]
            init(kernel)
    _rebind_handlers(kernel)
    cls.__init__(kernel, **kernel._init_kwargs)


def _rebind_handlers(kernel: Any) -> None:
    """Point every shell and control handler at the method of the kernel's class now
    (a handler is not always named after its message type: comm_open)."""
    for handlers in (kernel.shell_handlers, kernel.control_handlers):
        for msg_type, handler in handlers.items():
            handlers[msg_type] = getattr(kernel, handler.__name__)
