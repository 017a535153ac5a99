"""Ending a process that has done its own cleanup, without the interpreter's teardown.

Freeing every module one by one is pure CPU work (0.5 to 1 s for silik, more with
pydantic-ai loaded) counted against the 2.5 s jupyter_client waits for a kernel to
exit before it sends SIGTERM; and a thread blocked reading stdin (MCP over stdio)
would never be joined. Sockets and files are closed by the OS.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn


def exit_without_teardown(*, run_exit_handlers: bool = True) -> NoReturn:
    """Run the exit handlers (unless we are one of them), flush, and exit 0."""
    if run_exit_handlers:
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a closed or broken stream: nothing left to save
            pass
    os._exit(0)
