"""Entry point: `python -m silik_kernel [install|help-md|-f CONNECTION_FILE]`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["install"]:
        from .install import install

        return install(args[1:])
    if args[:1] == ["help-md"]:
        from .builtin_commands import builtins

        sys.stdout.write(builtins.markdown())
        return 0
    from .app import launch

    launch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
