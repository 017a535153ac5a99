"""What `python -m silik_kernel` and `python -m silik_agents` say on a command line.

Both end in ipykernel's application, whose own help is IPython's: their usage
is said here, before it, and a kernel starts only with the connection file
Jupyter gives it.
"""

from __future__ import annotations

import sys
import textwrap

HELP_FLAGS = ("-h", "--help", "help")


def started_by_jupyter(first: str, indent: str = "") -> str:
    """``first`` (what starting does), then who starts it, wrapped at ``indent``."""
    text = (
        f"{first} Jupyter does this itself, from the kernelspec, when you pick the"
        " kernel (in JupyterLab, a notebook, or `jupyter console --kernel NAME`);"
        " CONNECTION_FILE is the kernel-*.json file it writes for the kernel."
    )
    return textwrap.fill(text, 84, initial_indent=indent, subsequent_indent=indent)


USAGE = f"""\
usage:
  python -m silik_kernel install [--user | --sys-prefix | --prefix PREFIX] [--name NAME]
      register the silik kernelspec with this Python's path (pip install registers
      it already; this is for a Jupyter installed in another environment)
  python -m silik_kernel help-md [--plugins]
      print the reference of silik's commands as Markdown (help.md)
  python -m silik_kernel mcp [--config FILE] [--max-image-bytes N]
      serve the silik tools to an MCP client over stdio, on a tree of kernels of
      its own (needs `pip install silik[mcp]`; `mcp --help` says more)
  python -m silik_kernel mcp --http [--port N] [--stateless] [--config FILE]
      the same over streamable HTTP on 127.0.0.1, for several clients at once,
      behind a bearer token (`mcp --http --help` says more)
  python -m silik_kernel -f CONNECTION_FILE
{started_by_jupyter("start a silik kernel.", " " * 6)}

In a silik kernel, `help` lists its commands.
"""

HELP_MD_USAGE = """\
usage: python -m silik_kernel help-md [--plugins]

Print the reference of silik's built-in commands as Markdown (help.md);
--plugins adds the commands of the installed plugins.
"""


def names_connection_file(args: list[str]) -> bool:
    """Whether kernel options give a connection file, as ipykernel reads them."""
    for i, arg in enumerate(args):
        if arg in ("-f", "--f"):
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                return True
        elif arg.startswith(("-f=", "--f=")) or (
            arg.startswith("--") and "connection_file=" in arg
        ):
            return arg.split("=", 1)[1] != ""
    return False


def refuse(prog: str, problem: str, usage: str) -> int:
    """A command line that cannot work: say why on stderr, then the usage."""
    sys.stderr.write(f"{prog}: {problem}\n\n{usage}")
    return 2


def starting_problem(args: list[str]) -> str | None:
    """Why ``args`` (not a subcommand) cannot start a kernel; None if they can."""
    if args and not args[0].startswith("-"):
        return f"unknown subcommand {args[0]!r}"
    if not names_connection_file(args):
        return "starting a kernel needs -f CONNECTION_FILE"
    return None
