"""Kernel applications: ipykernel's app, one event loop, no subshells."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp
from traitlets import Type

from .kernel import SilikKernel


class SingleLoopKernelApp(IPKernelApp):
    """For kernels whose state lives on the main event loop (silik, agent kernels)."""

    def init_sockets(self) -> None:
        super().init_sockets()
        # Subshell requests would run in another thread with another event loop;
        # our state lives on the main loop, so do not offer subshells.
        self.shell_channel_thread = None


class SilikKernelApp(SingleLoopKernelApp):
    name = "silik-kernel"
    kernel_class = Type(SilikKernel, klass="ipykernel.kernelbase.Kernel").tag(config=True)

    def init_io(self) -> None:
        # silik reports through messages, never by printing: leave sys.stdout and
        # sys.stderr alone. ipykernel's capturing streams cost two threads and a
        # thread round trip per flush, and it flushes twice per cell.
        saved = self.outstream_class
        self.outstream_class = None  # type: ignore[assignment]
        try:
            super().init_io()
        finally:
            self.outstream_class = saved


def launch(argv: list[str] | None = None, kernel_class: type | None = None) -> None:
    kwargs = {"kernel_class": kernel_class} if kernel_class else {}
    SilikKernelApp.launch_instance(argv=argv, **kwargs)
