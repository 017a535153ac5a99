"""How long silik takes to shut down with many kernels, and what it leaves behind.

    python benchmarks/shutdown.py 8 50 180      # one fresh silik per size

The time is what a jupyter_client frontend waits in ``shutdown_kernel()``: from
its shutdown_request until silik's process has exited. jupyter_client sends
SIGTERM after 2.5 s and SIGKILL after 5 s; "ended" says which one silik needed.
Each silik gets a runtime directory of its own, so "files left" counts only its
files (connection files, logs, the bridge file), and "processes left" counts its
sub-kernels still running 5 s after it exited.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import psutil
from jupyter_client.manager import KernelManager, _ShutdownStatus

TIMEOUT = 900
CHUNK = 60  # kernels per `new` (silik bounds -n)
ENDED = {
    _ShutdownStatus.ShutdownRequest: "on its own",
    _ShutdownStatus.SigtermRequest: "after SIGTERM",
    _ShutdownStatus.SigkillRequest: "killed (SIGKILL)",
}


@dataclass
class Shutdown:
    kernels: int
    seconds: float
    ended: str
    files_left: int
    processes_left: int


def measure_shutdown(kernels: int) -> Shutdown:
    """A fresh silik with ``kernels`` python3 sub-kernels, shut down by jupyter_client."""
    runtime = tempfile.mkdtemp(prefix="silik-shutdown-")
    km = KernelManager(kernel_name="silik")
    km.start_kernel(env={**os.environ, "JUPYTER_RUNTIME_DIR": runtime})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        left = kernels
        while left:
            chunk = min(left, CHUNK)
            reply = kc.execute_interactive(
                f"new python3 -n {chunk}", timeout=TIMEOUT, output_hook=lambda msg: None
            )
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"silik could not start {chunk} kernels: {reply['content']}")
            left -= chunk
        assert km.provisioner is not None and km.provisioner.process is not None
        subs = psutil.Process(km.provisioner.process.pid).children(recursive=True)
    except BaseException:
        km.shutdown_kernel(now=True)
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    finally:
        kc.stop_channels()
    start = time.perf_counter()
    km.shutdown_kernel(now=False)
    took = time.perf_counter() - start
    _, alive = psutil.wait_procs(subs, timeout=5)
    running = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    files = sum(len(names) for _, _, names in os.walk(runtime))
    for p in running:
        p.kill()
    shutil.rmtree(runtime, ignore_errors=True)
    ended = ENDED.get(km._shutdown_status, str(km._shutdown_status))
    return Shutdown(kernels, took, ended, files, len(running))


def main(sizes: list[int]) -> int:
    print("| kernels | shutdown | ended | files left | processes left |")
    print("|---------|----------|-------|------------|----------------|")
    for n in sizes:
        r = measure_shutdown(n)
        print(
            f"| {r.kernels} | {r.seconds:.2f} s | {r.ended} | {r.files_left} | {r.processes_left} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main([int(a) for a in sys.argv[1:]] or [8, 50]))
