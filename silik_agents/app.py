"""The kernel application for agent kernels (stdout is captured: tools may print)."""

from __future__ import annotations

from traitlets import Type

from silik_agents.kernel import AgentKernel
from silik_kernel.kernel.app import SingleLoopKernelApp


class AgentKernelApp(SingleLoopKernelApp):
    name = "silik-agent-kernel"
    kernel_class = Type(AgentKernel, klass="ipykernel.kernelbase.Kernel").tag(config=True)


def launch(kernel_class: type[AgentKernel], argv: list[str] | None = None) -> None:
    AgentKernelApp.launch_instance(argv=argv, kernel_class=kernel_class)
