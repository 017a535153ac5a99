"""Kernel applications: ipykernel's app, one event loop, no subshells."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import zmq
from ipykernel.kernelapp import IPKernelApp
from traitlets import Type

from silik_kernel.kernel.iopub import DirectIOPub
from silik_kernel.kernel.kernel import SilikKernel
from silik_kernel.protocol.wire import RELAY_HWM, LeanSession

log = logging.getLogger("silik.app")


class SingleLoopKernelApp(IPKernelApp):
    """For kernels whose state lives on the main event loop (silik, agent kernels)."""

    def _session_default(self) -> LeanSession:
        return LeanSession(parent=self)

    def init_sockets(self) -> None:
        super().init_sockets()
        # Subshell requests would run in another thread with another event loop;
        # our state lives on the main loop, so do not offer subshells.
        self.shell_channel_thread = None


class SilikKernelApp(SingleLoopKernelApp):
    name = "silik-kernel"
    kernel_class = Type(SilikKernel, klass="ipykernel.kernelbase.Kernel").tag(config=True)

    def init_iopub(self, context: zmq.Context) -> None:
        # As ipykernel's, without the IOPub thread (iopub.py says why).
        socket = context.socket(zmq.XPUB)
        socket.linger = 1000
        socket.sndhwm = RELAY_HWM  # a slow frontend gets a burst late, not in part
        self._apply_curve_server_options(socket)
        self.iopub_port = self._bind_socket(socket, self.iopub_port)
        self.configure_tornado_logger()
        self.iopub_thread = DirectIOPub(socket, self.session)
        self.iopub_socket = self.iopub_thread.background_socket

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

    def init_poller(self) -> None:
        super().init_poller()
        if sys.platform != "win32" and self.poller is not None:
            self.poller = ParentWatcher(self.parent_handle, self)


class ParentWatcher(threading.Thread):
    """ipykernel's parent poller, except that silik stops its sub-kernels before it exits.

    ipykernel's poller calls ``os._exit`` when the frontend that started the kernel
    dies. jupyter console sends ``shutdown_request`` and exits without waiting for
    the reply, so that would cut silik's shutdown short: sub-kernels left to their
    own pollers, connection files left behind.
    """

    def __init__(self, parent_pid: int, app: IPKernelApp, grace: float = 15.0) -> None:
        super().__init__(name="silik-parent-watcher", daemon=True)
        self.parent_pid = parent_pid
        self.app = app
        self.grace = grace

    def run(self) -> None:
        # As ipykernel: if our parent is not the given one at start, wait to be orphaned.
        watched = self.parent_pid if os.getppid() == self.parent_pid else None
        while not _orphaned(watched):
            time.sleep(0.5)
        kernel = getattr(self.app, "kernel", None)
        if not getattr(kernel, "shutting_down", False):
            log.warning("the frontend that started silik exited: stopping its kernels")
            os.kill(os.getpid(), signal.SIGTERM)  # SilikKernel._on_sigterm stops everything
        time.sleep(self.grace)  # a normal exit ends this daemon thread first
        os._exit(1)


def _orphaned(watched: int | None) -> bool:
    ppid = os.getppid()
    return ppid == 1 if watched is None else ppid != watched


def launch(argv: list[str] | None = None, kernel_class: type | None = None) -> None:
    kwargs = {"kernel_class": kernel_class} if kernel_class else {}
    SilikKernelApp.launch_instance(argv=argv, **kwargs)
