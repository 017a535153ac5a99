"""`python -m silik_agents install|spec|run ...`."""

from __future__ import annotations

import argparse
import os
import sys

USAGE = """\
usage:
  python -m silik_agents install PACKAGE.MODULE:ATTR --name NAME [--display-name TEXT]
                                [--user | --sys-prefix | --prefix P] [--env VAR=VALUE]
  python -m silik_agents spec PACKAGE.MODULE:ATTR --name NAME [--display-name TEXT]
  python -m silik_agents run PACKAGE.MODULE:ATTR [--name NAME] -f CONNECTION_FILE
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
    sys.stderr.write(USAGE)
    return 0 if command in ("-h", "--help") else 2


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m silik_agents run", add_help=False)
    parser.add_argument("target")
    parser.add_argument("--name")
    ours, kernel_args = parser.parse_known_args(argv)
    # The pydantic-ai welcome banner would land in the first cell's stderr.
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    from silik_agents.app import launch
    from silik_agents.target import kernel_class_for

    launch(kernel_class_for(ours.target, ours.name), kernel_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
