"""The context a command runs in: the manager, the cell, the registry, and shortcuts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from silik_kernel.commands.fanout import KernelDone, KernelOutput, fan_out
from silik_kernel.commands.frontend import Frontend, Output
from silik_kernel.commands.parsing import Line
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.commands.serving import McpControl
from silik_kernel.errors import SilikError
from silik_kernel.tree import KernelEntry, is_pattern

if TYPE_CHECKING:
    from silik_kernel.manager import SilikManager
    from silik_kernel.subkernels.execution import ExecuteOptions

# What a path word may hold: names (letters, digits, _ . + -), ~, / and glob characters.
_PATH_WORD = re.compile(r"^[A-Za-z0-9_.+\-~/*?\[\]!]+$")


@dataclass
class Context:
    """What a command's handler gets besides its argument values.

    ``manager`` is the SilikManager (the API the agent tools use too): start,
    stop, execute on, interrupt and inspect kernels by path. ``frontend`` is the
    cell the command runs in. The methods below are shortcuts for common needs.
    """

    manager: SilikManager
    frontend: Frontend
    registry: CommandRegistry
    run_lines: Callable[[list[Line], str], Awaitable[None]] | None = None  # used by `source`
    mcp: McpControl | None = None  # used by `mcp`; only a silik kernel's cells have it

    def print(self, text: str, name: str = "stdout") -> None:
        """Show text in the cell now (``name="stderr"`` for warnings)."""
        self.frontend.print(text, name)

    def show(self, out: Output) -> None:
        """Show an Output now, as if a command had returned it."""
        if out.html is None:
            self.frontend.print(out.text)
        else:
            self.frontend.display({"text/plain": out.text, "text/html": out.html})

    def forward(self, output: KernelOutput) -> None:
        """Show a sub-kernel's output message in the cell exactly as the kernel sent it."""
        self.frontend.forward(output.msg)

    def kernel_paths(self, patterns: Iterable[str]) -> list[str]:
        """Absolute kernel paths named by ``patterns``; globs (``~/workers/*``) name several.

        Each pattern must name at least one kernel. The order is the order of the
        patterns, then display order; a kernel named twice appears once.
        """
        found: dict[str, None] = {}
        for pattern in patterns:
            if not _PATH_WORD.match(pattern):  # `broadcast x = 1 a.py`: code without quotes
                raise SilikError(
                    f"{pattern!r} is not a kernel path", hint='put the code in quotes: "x = 1"'
                )
            nodes = self.manager.tree.glob(pattern)
            kernels = [n for n in nodes if isinstance(n, KernelEntry)]
            if not kernels:
                folder = nodes[0].path
                what = "only folders" if is_pattern(pattern) else "a folder, not a kernel"
                raise SilikError(
                    f"{pattern} names {what}", hint=f"`{folder}/*` names the kernels in {folder}"
                )
            found.update(dict.fromkeys(k.path for k in kernels))
        return list(found)

    def run_many(
        self, paths: Iterable[str], code: str, options: ExecuteOptions | None = None
    ) -> AsyncIterator[KernelOutput | KernelDone]:
        """Run ``code`` on every kernel at once; events from all of them as they arrive.

        See :func:`silik_kernel.commands.fanout.fan_out`. An interrupt of the cell
        interrupts every kernel still running.
        """
        return fan_out(self.manager, list(paths), code, options, running=self.frontend.running)
