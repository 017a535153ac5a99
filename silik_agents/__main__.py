"""`python -m silik_agents install|spec|run ...`."""

from __future__ import annotations

import argparse
import os
import sys

from silik_kernel.command_line import HELP_FLAGS, names_connection_file, refuse, started_by_jupyter

RUN_USAGE = (
    "usage: python -m silik_agents run PACKAGE.MODULE:ATTR [--name NAME] -f CONNECTION_FILE\n"
)

USAGE = f"""\
usage:
  python -m silik_agents install PACKAGE.MODULE:ATTR --name NAME [--display-name TEXT]
                                [--user | --sys-prefix | --prefix P] [--env VAR=VALUE]
      register a Jupyter kernelspec NAME that chats with the pydantic-ai agent (or
      agent factory, or AgentKernel class) ATTR of PACKAGE.MODULE, run by this Python
  python -m silik_agents spec PACKAGE.MODULE:ATTR --name NAME [--display-name TEXT]
      print that kernelspec's kernel.json, for a package to ship as wheel data
  python -m silik_agents run PACKAGE.MODULE:ATTR [--name NAME] -f CONNECTION_FILE
{started_by_jupyter("start the agent's kernel.", " " * 6)}

`python -m silik_agents install --help` (or spec --help) details the options.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "install":
        from silik_agents.install import install

        return install(rest)
    if command == "spec":
        from silik_agents.install import print_spec

        return print_spec(rest)
    if command == "run":
        return run(rest)
    if command in HELP_FLAGS:
        sys.stdout.write(USAGE)
        return 0
    if not command:
        sys.stderr.write(USAGE)
        return 2
    return refuse("python -m silik_agents", f"unknown subcommand {command!r}", USAGE)


def run(argv: list[str]) -> int:
    prog = "python -m silik_agents run"
    if any(a in ("-h", "--help", "--help-all") for a in argv):
        sys.stdout.write(f"{RUN_USAGE}\n{started_by_jupyter('Start an agent kernel.')}\n")
        return 0
    if not names_connection_file(argv):
        return refuse(
            prog,
            "starting a kernel needs -f CONNECTION_FILE",
            f"{RUN_USAGE}\n{started_by_jupyter('Start an agent kernel.')}\n",
        )
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    parser.add_argument("target")
    parser.add_argument("--name")
    parser.add_argument("--path", action="append", default=[])
    ours, kernel_args = parser.parse_known_args(argv)
    # A package that is not installed, found where `install` was run (install.py).
    sys.path[:0] = ours.path
    # The pydantic-ai welcome banner would land in the first cell's stderr.
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    from silik_agents.app import launch_target

    launch_target(ours.target, ours.name, kernel_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
