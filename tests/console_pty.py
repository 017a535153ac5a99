"""jupyter console in a pseudo-terminal, as a person types into it (pexpect).

One way to start it and one way to clean up after it, for the end-to-end tests:
the console is killed and so is every kernel it left (a test that quits the
console itself finds nothing left to kill).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pexpect
import psutil

#: Terminal control sequences, to read the screen as text.
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
#: Colour codes around a prompt number (prompt_toolkit colours it).
ESC = r"(?:\x1b\[[0-9;?]*[a-zA-Z])*"


def prompt(number: int) -> re.Pattern[str]:
    """The console's input prompt ``In [number]: ``."""
    return re.compile(rf"In \[{ESC}{number}{ESC}\]: ")


def screen(text: str) -> str:
    """What the terminal showed, without control sequences, one newline per line."""
    return ANSI.sub("", text).replace("\r\n", "\n")


def console_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a console in a pty: pexpect answers no cursor-position requests."""
    return {**env, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}


@contextmanager
def jupyter_console(
    kernel: str,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    *,
    columns: int = 160,
    timeout: float = 60,
) -> Iterator[pexpect.spawn]:
    """``jupyter console --kernel KERNEL`` in a 40-line pty, its output logged to ``log``."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "jupyter_console", "--kernel", kernel],
        env=console_env(env),
        cwd=str(cwd),
        encoding="utf-8",
        dimensions=(40, columns),
        timeout=timeout,
    )
    child.logfile_read = open(log, "w")  # noqa: SIM115 - closed below
    try:
        yield child
    finally:
        kernels = descendants(child.pid) if child.isalive() else []
        child.terminate(force=True)
        child.logfile_read.close()
        for proc in kernels:
            try:
                proc.kill()
            except psutil.Error:
                pass


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
