"""Entry point: `python -m silik_kernel [install|help-md [--plugins]|mcp|-f CONNECTION_FILE]`."""

from __future__ import annotations

import os
import sys

from silik_kernel.command_line import HELP_FLAGS, HELP_MD_USAGE, USAGE, refuse, starting_problem
from silik_kernel.process_exit import exit_without_teardown


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write(USAGE)
        return 2
    if args[0] in HELP_FLAGS:
        sys.stdout.write(USAGE)
        return 0
    if args[:1] == ["install"]:
        from silik_kernel.install import install

        return install(args[1:])
    if args[:1] == ["help-md"]:
        if any(a in HELP_FLAGS for a in args[1:]):
            sys.stdout.write(HELP_MD_USAGE)
            return 0
        from silik_kernel.commands.builtin import BUILTIN_COMMANDS
        from silik_kernel.commands.plugins import load_plugins

        # help.md documents the built-ins; --plugins adds the installed plugins' sections.
        registry = load_plugins(BUILTIN_COMMANDS) if "--plugins" in args[1:] else BUILTIN_COMMANDS
        sys.stdout.write(registry.markdown())
        return 0
    if args[:1] == ["mcp"]:
        return _mcp(args[1:])
    if any(a in ("-h", "--help", "--help-all") for a in args):
        sys.stdout.write(USAGE)  # not ipykernel's, which is IPython's
        return 0
    problem = starting_problem(args)
    if problem is not None:
        return refuse("python -m silik_kernel", problem, USAGE)
    # debugpy (imported by ipykernel) warns on stderr about frozen modules; silik
    # does not offer the debugger, so silence the check.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    _skip_pydantic_plugins()
    from silik_kernel.kernel.app import launch

    launch(args)
    exit_without_teardown()  # the kernel has stopped its sub-kernels and removed its files
    return 0


def _mcp(args: list[str]) -> int:
    try:
        import mcp  # noqa: F401
    except ImportError:
        return refuse(
            "python -m silik_kernel mcp",
            "the MCP server needs the mcp package: pip install 'silik[mcp]'",
            USAGE,
        )
    _skip_pydantic_plugins()
    if "--http" in args:
        from silik_kernel.mcp.serve_http import main as serve_http

        return serve_http(args)
    from silik_kernel.mcp.stdio import main as serve_mcp

    return serve_mcp(args)


def _skip_pydantic_plugins() -> None:
    """silik's pydantic models are its own messages: load no pydantic plugin here.

    An installed plugin (logfire's, for one) would otherwise be imported with the
    first model class and cost ~17 MB of memory in every silik kernel. pydantic
    itself is imported only when needed (the bridge, gateways), so rather than
    importing it now, empty its plugin cache when its loader module is imported.
    """
    import importlib.abc
    import importlib.util

    target = "pydantic.plugin._loader"

    class EmptyPluginCache(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target_module=None):  # type: ignore[no-untyped-def]
            if name != target:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_empty(module):  # type: ignore[no-untyped-def]
                exec_module(module)
                if getattr(module, "_plugins", None) is None:
                    module._plugins = {}

            spec.loader.exec_module = exec_and_empty  # type: ignore[method-assign]
            return spec

    if target not in sys.modules:
        sys.meta_path.insert(0, EmptyPluginCache())


if __name__ == "__main__":
    sys.exit(main())
