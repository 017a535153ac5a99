"""jupyter console on silik, typed into through a pseudo-terminal as a person would."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pexpect
import psutil
import pytest
from console_pty import ESC, descendants, jupyter_console

EXPECT_TIMEOUT = 30
INTERRUPT_BOUND = 2.0  # seconds from Ctrl-C to the KeyboardInterrupt on screen
PROMPT = re.compile(rf"In \[{ESC}\d+{ESC}\]: ")


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    return tmp_path / "runtime"


@pytest.fixture
def console(tmp_path: Path, runtime_dir: Path):
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    log = tmp_path / "console.log"
    with jupyter_console("silik", env, tmp_path, log, timeout=EXPECT_TIMEOUT) as child:
        yield child


def _cell(child: pexpect.spawn, code: str, *expected: str) -> None:
    """Type a cell, wait for each expected pattern in order, then for the next prompt."""
    child.sendline(code)
    for pattern in expected:
        child.expect(pattern)
    child.expect(PROMPT)


def test_console_session(console: pexpect.spawn, runtime_dir: Path) -> None:
    child = console
    child.expect("silik: a kernel that manages Jupyter kernels")
    child.expect(PROMPT)

    # As the README's tour says: Ctrl-O between the lines of a cell, Enter runs it;
    # an open quote gives a `...:` line, and Ctrl-C drops the cell.
    child.send("mkdir w\x0fcd w\r")
    # The next cell's prompt: Ctrl-O redraws the first one, which PROMPT would match.
    child.expect(rf"In \[{ESC}2{ESC}\]: ")
    _cell(child, "pwd", r"~/w\r\n")
    child.send('run "x = 1\r')
    child.expect(r"\.\.\.: ")
    child.send("\x03")  # the prompt is not printed again: the next cell shows the drop
    _cell(child, "cd ~")
    _cell(child, "pwd", rf"\n{ESC}~\r\n")

    _cell(child, "new python3 -l k1", "started ~/k1.py")
    kernels = descendants(child.pid)
    assert len(kernels) >= 2, [p.cmdline() for p in kernels]  # silik and its python kernel
    _cell(child, 'run "print(6*7)" k1.py', r"42\r\n")

    _cell(child, "> k1.py", "connected to ~/k1.py")

    # TAB completion is answered by the python kernel behind the gateway.
    child.send("import o")
    child.send("\t")
    child.expect(r"operator\s+os\s")
    child.send("s\r")  # `import os`: the menu narrows, Enter runs the cell
    child.expect(PROMPT)
    _cell(child, "print(os.path.join('a', 'b'))", r"a/b\r\n")

    # input() in the sub-kernel is answered at the console's prompt.
    child.sendline("name = input('Your name: '); print('hi', name)")
    child.expect(rf"\n{ESC}Your name: ")
    child.sendline("silik")
    child.expect(r"hi silik\r\n")
    child.expect(PROMPT)

    # Ctrl-C interrupts the sub-kernel's cell and the prompt comes back.
    child.sendline("import time; print('sleeping'); time.sleep(30)")
    child.expect(r"sleeping\r\n")  # the sub-kernel is inside the cell now
    time.sleep(0.5)
    started = time.monotonic()
    child.send("\x03")  # Ctrl-C (not sendintr: prompt_toolkit's raw mode has no VINTR)
    child.expect("KeyboardInterrupt")
    elapsed = time.monotonic() - started
    child.expect(PROMPT)
    assert elapsed < INTERRUPT_BOUND, f"Ctrl-C took {elapsed:.2f} s"
    _cell(child, "print('still here')", r"still here\r\n")

    # A silik command typed by habit: the kernel's error, then how to type it here.
    _cell(
        child,
        "tree",
        "NameError",
        r"hint: you are connected to ~/k1\.py: silik commands need /cmd, e\.g\. /cmd tree",
    )

    _cell(child, "/cmd", "left ~/k1.py; back to silik commands")
    _cell(child, "tree", "k1.py")

    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.wait()
    assert child.exitstatus == 0, child.exitstatus
    _assert_stopped(kernels, runtime_dir)


def test_console_killed(console: pexpect.spawn, runtime_dir: Path) -> None:
    """A frontend that dies without a word: silik still stops its kernels properly."""
    child = console
    child.expect(PROMPT)
    _cell(child, "new python3 -l k1 k2", "started ~/k1.py, ~/k2.py")
    kernels = descendants(child.pid)
    assert len(kernels) >= 3, [p.cmdline() for p in kernels]
    child.kill(9)
    _assert_stopped(kernels, runtime_dir)


def _assert_stopped(kernels: list[psutil.Process], runtime_dir: Path) -> None:
    """Every kernel process ended, and silik cleaned up the files of the ones it started."""
    gone, alive = psutil.wait_procs(kernels, timeout=15)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    assert sorted(p.name for p in runtime_dir.glob("*silik*")) == []
