"""The public API for extending silik: everything a new command needs, in one import.

Commands are declared exactly like the built-in ones::

    from silik_kernel.api import Arg, CommandRegistry, Context, Output

    commands = CommandRegistry()

    @commands.command("hello", "Greet someone.", args=[Arg("who", "whom to greet")])
    async def hello(ctx: Context, values: dict) -> Output:
        return Output(f"hello {values['who']}")

Ship them in a package whose pyproject.toml names ``commands`` under the
``silik.commands`` entry-point group, or add them to a kernel subclass with
``@MyKernel.commands.command(...)`` and start it with :func:`launch`. A handler
gets ``ctx.manager`` (start, stop, execute on and inspect kernels by path), the
cell (``ctx.print``, ``ctx.show``, ``ctx.frontend.relay``) and, to spread one
input over several kernels, ``ctx.kernel_paths`` (globs) and ``ctx.run_many``
with :class:`GroupedOutput` to show the merged output.
"""

from __future__ import annotations

import os

from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import KINDS, Arg, Command, Completer, Opt
from silik_kernel.commands.fanout import GroupedOutput, KernelDone, KernelOutput, fan_out, summary
from silik_kernel.commands.frontend import Frontend, Output, SubKernelError
from silik_kernel.commands.plugins import ENTRY_POINT_GROUP, load_plugins
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.kernel.kernel import SilikKernel
from silik_kernel.manager import SilikManager
from silik_kernel.subkernels.execution import ExecuteOptions

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "Arg",
    "Command",
    "CommandRegistry",
    "Completer",
    "Context",
    "ExecuteOptions",
    "Frontend",
    "GroupedOutput",
    "KernelDiedError",
    "KernelDone",
    "KernelOutput",
    "Opt",
    "Output",
    "SilikError",
    "SilikKernel",
    "SilikManager",
    "SubKernelError",
    "fan_out",
    "launch",
    "load_plugins",
    "summary",
]


def launch(kernel_class: type[SilikKernel] = SilikKernel, argv: list[str] | None = None) -> None:
    """Run ``kernel_class`` as a Jupyter kernel (the kernelspec passes ``-f CONNECTION_FILE``)."""
    from silik_kernel.kernel.app import launch as launch_app

    # As `python -m silik_kernel`: silik offers no debugger, so skip debugpy's check.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    launch_app(argv, kernel_class=kernel_class)
