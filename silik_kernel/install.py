"""`python -m silik_kernel install`: a kernelspec with an absolute interpreter path."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from jupyter_client.kernelspec import KernelSpecManager

SPEC_DIR = "share/jupyter/kernels/silik"


def kernel_json(python: str | None = None) -> dict:
    return {
        "argv": [python or sys.executable, "-m", "silik_kernel", "-f", "{connection_file}"],
        "display_name": "Silik",
        "language": "silik",
        "interrupt_mode": "message",
        # ipykernel's app applies the CurveZMQ keys a Jupyter server provisions.
        "metadata": {"debugger": False, "supported_encryption": ["curve"]},
    }


def install(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m silik_kernel install",
        description="Install the silik kernelspec, pointing at this Python interpreter.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument(
        "--sys-prefix", action="store_true", help="install into sys.prefix (the active env)"
    )
    where.add_argument("--prefix", help="install under this prefix")
    parser.add_argument("--name", default="silik", help="kernelspec name (default: silik)")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, "kernel.json"), "w") as f:
            json.dump(kernel_json(), f, indent=2)
        dest = KernelSpecManager().install_kernel_spec(
            tmp, args.name, user=args.user, prefix=prefix, replace=True
        )
    print(f"Installed kernelspec {args.name} in {dest}")
    return 0
