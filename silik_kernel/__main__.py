"""Entry point: `python -m silik_kernel [install|help-md|-f CONNECTION_FILE]`."""

from __future__ import annotations

import os
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
    # debugpy (imported by ipykernel) warns on stderr about frozen modules; silik
    # does not offer the debugger, so silence the check.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    from .app import launch

    launch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
