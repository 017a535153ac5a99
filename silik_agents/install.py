"""Kernelspecs for agent kernels: ``install`` writes one, ``spec`` prints one for a package.

``install`` writes the absolute path of this interpreter, so a Jupyter from any
environment starts the kernel with the Python that has the agent. ``spec``
prints the relocatable form (``"python"``) that a package ships as wheel data.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

_NAME = re.compile(r"^[a-z0-9._-]+$", re.IGNORECASE)


def kernel_json(
    target: str,
    name: str,
    *,
    display_name: str | None = None,
    python: str | None = None,
    env: dict[str, str] | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """``path``: a folder the kernel puts first on sys.path to import ``target``."""
    where = ["--path", path] if path else []
    spec: dict[str, Any] = {
        "argv": [
            python or sys.executable,
            "-m",
            "silik_agents",
            "run",
            target,
            *where,
            "--name",
            name,
            "-f",
            "{connection_file}",
        ],
        "display_name": display_name or name,
        "language": "text",
        "interrupt_mode": "message",
        "metadata": {
            "debugger": False,
            "supported_encryption": ["curve"],  # ipykernel's app applies the keys
            "silik_agents": {"target": target},
        },
    }
    if env:
        spec["env"] = dict(env)
    return spec


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "target", metavar="PACKAGE.MODULE:ATTR", help="the agent, factory or kernel class"
    )
    parser.add_argument("--name", required=True, help="kernelspec name, also the config file name")
    parser.add_argument("--display-name", help="name shown in Jupyter's launcher (default: NAME)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="an environment variable for the kernel (repeatable)",
    )
    return parser


def install(argv: list[str]) -> int:
    parser = _parser(
        "python -m silik_agents install",
        "Install a kernelspec that chats with a pydantic-ai agent, using this Python.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="install into sys.prefix")
    where.add_argument("--prefix", help="install under this prefix (PREFIX/share/jupyter/kernels)")
    parser.add_argument(
        "--no-check", action="store_true", help="do not import the target to check it"
    )
    args = parser.parse_args(argv)
    spec = _spec_from_args(parser, args, python=sys.executable)
    if not args.no_check:
        problem = _check(args.target)
        if problem:
            parser.exit(
                2,
                f"error: {problem}\nMake it importable (`pip install -e .` in its project "
                "folder, or run this command in the folder that holds the package), or use "
                "--no-check to install anyway.\n",
            )
    folder = borrowed_folder(args.target, spec.get("env", {}))
    if folder:
        spec = _spec_from_args(parser, args, python=sys.executable, path=folder)
        print(
            f"note: {args.target} is imported from {folder}, which this Python finds only "
            "because you are in it (or it is on PYTHONPATH): the kernelspec puts it on the "
            "kernel's path. If the folder moves, install again; or make the package "
            "importable everywhere with `pip install -e .` in its project folder.",
            file=sys.stderr,
        )
    prefix = sys.prefix if args.sys_prefix else args.prefix
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, "kernel.json"), "w") as f:
            json.dump(spec, f, indent=2)
        dest = KernelSpecManager().install_kernel_spec(
            tmp, args.name, user=args.user, prefix=prefix
        )
    print(f"Installed kernelspec {args.name} in {dest}")
    return 0


def print_spec(argv: list[str]) -> int:
    parser = _parser(
        "python -m silik_agents spec",
        'Print a kernel.json that runs "python" (for share/jupyter/kernels/NAME/ in a wheel).',
    )
    args = parser.parse_args(argv)
    spec = _spec_from_args(parser, args, python="python")
    print(json.dumps(spec, indent=2))
    return 0


def _spec_from_args(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    *,
    python: str,
    path: str | None = None,
) -> dict[str, Any]:
    if not _NAME.match(args.name):
        parser.error(f"kernel name {args.name!r} may only use letters, digits, '.', '_' and '-'")
    if ":" not in args.target:
        parser.error(f"{args.target!r} is not PACKAGE.MODULE:ATTR (e.g. cook.agent:agent)")
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env takes VAR=VALUE, not {item!r}")
        env[key] = value
    return kernel_json(
        args.target, args.name, display_name=args.display_name, python=python, env=env, path=path
    )


def borrowed_folder(target: str, spec_env: dict[str, str]) -> str | None:
    """The folder ``target``'s top-level package is imported from, when this Python
    finds it only through the current folder or PYTHONPATH: a kernel that Jupyter
    starts elsewhere would not. None when it is installed (site-packages, an
    editable install) or the spec's own PYTHONPATH has it.
    """
    top = target.partition(":")[0].partition(".")[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if found.origin and found.has_location:
        here = os.path.dirname(found.origin)
        folder = os.path.dirname(here) if found.submodule_search_locations else here
    elif found.submodule_search_locations:  # a namespace package
        folder = os.path.dirname(list(found.submodule_search_locations)[0])
    else:
        return None  # built in or frozen
    borrowed = {_real(p) for p in [os.getcwd(), *_path_list(os.environ.get("PYTHONPATH", ""))]}
    kept = {_real(p) for p in sys.path} - borrowed
    kept |= {_real(p) for p in _path_list(spec_env.get("PYTHONPATH", ""))}
    real = _real(folder)
    return None if real in kept else real


def _path_list(value: str) -> list[str]:
    return [p for p in value.split(os.pathsep) if p]


def _real(path: str) -> str:
    return os.path.realpath(path or os.curdir)


def _check(target: str) -> str | None:
    """Why ``target`` cannot be used, or None. Import errors inside the module only warn."""
    from silik_agents.target import TargetError, check_target, import_target

    try:
        check_target(import_target(target), target)
    except TargetError as exc:
        return str(exc)
    except Exception as exc:
        print(
            f"warning: importing {target} failed ({type(exc).__name__}: {exc}); "
            "the kernel will report this until it is fixed",
            file=sys.stderr,
        )
    return None
