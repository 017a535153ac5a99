"""The kernel application: ipykernel's app with an agent kernel and no subshells."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp
from traitlets import Type

from .kernel import AgentKernel


class AgentKernelApp(IPKernelApp):
    name = "silik-agent-kernel"
    kernel_class = Type(AgentKernel, klass="ipykernel.kernelbase.Kernel").tag(config=True)

    def init_sockets(self) -> None:
        super().init_sockets()
        # Subshell requests would run on another thread with another event loop;
        # the conversation lives on the main loop, so do not offer subshells.
        self.shell_channel_thread = None


def launch(kernel_class: type[AgentKernel], argv: list[str] | None = None) -> None:
    AgentKernelApp.launch_instance(argv=argv, kernel_class=kernel_class)
