"""What CurveZMQ transport encryption costs, for run.py.

A kernel is "encrypted" when the KernelManager that starts it requires CurveZMQ
(`transport_encryption="required"`); a silik is encrypted when its frontend hop
and its sub-kernels' hops are (SILIK_TRANSPORT_ENCRYPTION=required). The cost
rows time an encrypted and a plain kernel of each kind in the same rounds.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ENV = "SILIK_TRANSPORT_ENCRYPTION"


def _silik_spec_dir() -> str:
    """A kernelspec dir with silik's spec as `python -m silik_kernel install` writes it
    (declaring CurveZMQ support), whatever copy an older install left."""
    from silik_kernel.install import kernel_json

    root = tempfile.mkdtemp(prefix="silik-bench-kernels-")
    atexit.register(shutil.rmtree, root, True)
    os.mkdir(os.path.join(root, "silik"))
    with open(os.path.join(root, "silik", "kernel.json"), "w") as f:
        json.dump(kernel_json(), f)
    return root


_spec_dir: list[str] = []


def kernel_manager(kernel_name: str, encrypted: bool) -> tuple[KernelManager, dict[str, str]]:
    """A manager for ``kernel_name`` and the env to start it with: every hop
    encrypted, or none."""
    env = {**os.environ, ENV: "required" if encrypted else "disabled"}
    if not encrypted:
        return KernelManager(kernel_name=kernel_name), env
    extra: dict[str, Any] = {}
    if kernel_name == "silik":
        if not _spec_dir:
            _spec_dir.append(_silik_spec_dir())
        extra["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=_spec_dir)
    km = KernelManager(kernel_name=kernel_name, transport_encryption="required", **extra)
    return km, env


def rotated(clients: list[Callable[[], float]], n: int) -> list[list[float]]:
    """n timings of each, every round starting one client later (no client twice in
    a row), as run.py times the connect-mode round trip."""
    for _ in range(5):
        for c in clients:
            c()
    times: list[list[float]] = [[] for _ in clients]
    for i in range(n):
        for j in range(len(clients)):
            k = (i + j) % len(clients)
            times[k].append(clients[k]())
    return times


def cost_rows(b: Any, make_client: Callable[..., Any], n_cells: int) -> None:
    """Rows "CurveZMQ off vs on": a direct python3 kernel, silik's connect mode and
    its `run` command, each plain and encrypted, timed in the same rounds."""
    made = []
    try:
        for encrypted in (False, True):
            direct = make_client("python3", encrypted=encrypted)
            made.append(direct)
            silik = make_client("silik", encrypted=encrypted)
            made.append(silik)
            silik.ok("new python3 -l k1")
        d_off, s_off, d_on, s_on = made
        for s in (s_off, s_on):
            s.ok("> k1.py")
        times = rotated([_ms(c, "pass") for c in made], n_cells)
        label = "CurveZMQ off (direct column) vs on (silik column): %s, median"
        off, on = statistics.median(times[0]), statistics.median(times[2])
        b.row(label % "direct python3 round trip", off, on, "ms", "(info)")
        off, on = statistics.median(times[1]), statistics.median(times[3])
        b.row(label % "connect-mode round trip", off, on, "ms", "(info)")
        for s in (s_off, s_on):
            s.ok("/cmd")
        off_t, on_t = rotated(
            [_ms(s_off, 'run "pass" k1.py'), _ms(s_on, 'run "pass" k1.py')], n_cells
        )
        b.row(
            label % '`run "pass" k1.py`',
            statistics.median(off_t),
            statistics.median(on_t),
            "ms",
            "(info)",
        )
    finally:
        for c in made:
            c.close()


def _ms(client: Any, code: str) -> Callable[[], float]:
    return lambda: client.run(code)[0] * 1000


def main() -> None:
    """Only the cost rows: `python benchmarks/encryption.py [CELLS]`."""
    import sys

    from run import Bench, Client

    b = Bench(quick=False)
    cost_rows(b, Client, int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(b.table())


if __name__ == "__main__":
    main()
