"""The kernel application for agent kernels (stdout is captured: tools may print)."""

from __future__ import annotations

import atexit

from traitlets import Type

from silik_agents.boot import BootKernel
from silik_kernel.kernel.app import SingleLoopKernelApp
from silik_kernel.process_exit import exit_without_teardown


class AgentKernelApp(SingleLoopKernelApp):
    name = "silik-agent-kernel"
    kernel_class = Type(BootKernel, klass="ipykernel.kernelbase.Kernel").tag(config=True)


def launch(kernel_class: type, argv: list[str] | None = None) -> None:
    """Run ``kernel_class``: an AgentKernel subclass, or a BootKernel that loads one."""
    atexit.register(_exit_without_teardown)  # first registered: runs last
    AgentKernelApp.launch_instance(argv=argv, kernel_class=kernel_class)


def launch_target(target: str, name: str | None, argv: list[str] | None = None) -> None:
    """Run the agent kernel of ``PACKAGE.MODULE:ATTR``, ready before the target is imported."""
    attrs = {"agent_target": target, "kernel_name": name, "__module__": __name__}
    launch(type("AgentKernel", (BootKernel,), attrs), argv)


def _exit_without_teardown() -> None:
    """After a shutdown request, end the process without the interpreter's teardown.

    Freeing pydantic-ai's modules and objects one by one is pure CPU work (no
    system calls between the last atexit handler and exit) that made an agent
    kernel's shutdown about 3x a python kernel's. Sockets and files are closed
    by the OS; every other atexit handler has run by now.
    """
    kernel = (
        getattr(AgentKernelApp.instance(), "kernel", None) if AgentKernelApp.initialized() else None
    )
    if not getattr(kernel, "shutting_down", False):
        return
    exit_without_teardown(run_exit_handlers=False)  # we are the last exit handler
