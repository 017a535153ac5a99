"""The kernel application: ipykernel's app with silik's kernel and no subshells."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp
from traitlets import Type

from .kernel import SilikKernel


class SilikKernelApp(IPKernelApp):
    name = "silik-kernel"
    kernel_class = Type(SilikKernel, klass="ipykernel.kernelbase.Kernel").tag(config=True)
    # silik reports through messages, never by printing: leave sys.stdout/stderr
    # alone. ipykernel's capturing streams cost two threads and a thread round
    # trip per flush, and it flushes twice per cell.
    def init_io(self) -> None:
        saved = self.outstream_class
        self.outstream_class = None  # type: ignore[assignment]
        try:
            super().init_io()
        finally:
            self.outstream_class = saved

    def init_sockets(self) -> None:
        super().init_sockets()
        # Subshell requests would run in another thread with another event loop;
        # silik's state lives on the main loop, so do not offer subshells.
        self.shell_channel_thread = None


def launch(argv: list[str] | None = None, kernel_class: type | None = None) -> None:
    kwargs = {"kernel_class": kernel_class} if kernel_class else {}
    SilikKernelApp.launch_instance(argv=argv, **kwargs)
