"""An agent kernel in jupyter console, typed into through a pseudo-terminal.

jupyter console prints display_data but ignores update_display_data, so what a
console user sees of a streamed answer is only what the kernel publishes as new
outputs. With the default settings the whole turn must be there, once, in order.
"""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest
from agents_fixtures.kernels import agent_prefix, clean_env
from console_pty import jupyter_console, prompt, screen


@pytest.fixture
def chef_console(tmp_path: Path):
    env = clean_env(
        JUPYTER_PATH=str(agent_prefix() / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),  # no config file: the defaults
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    with jupyter_console("chef", env, tmp_path, tmp_path / "console.log", columns=200) as child:
        yield child


def _turn(child: pexpect.spawn, message: str, number: int) -> str:
    """Type message ``number``; what the console printed before the next prompt,
    without colours (prompt_toolkit redraws the current prompt as keys arrive)."""
    child.sendline(message)
    child.expect(prompt(number + 1))
    return screen(child.before)


def test_a_streamed_answer_and_its_tool_call_show_once_each_in_order(chef_console):
    child = chef_console
    child.expect("chef: a pydantic-ai agent as a Jupyter kernel")
    child.expect(prompt(1))

    shown = _turn(child, "add 2 and 3", 1)
    tool_line = "[tool] add(a=2, b=3) -> 5"
    answer = "The tool said: 5"
    assert shown.count(tool_line) == 1, shown
    assert shown.count(answer) == 1, shown
    assert shown.index(tool_line) < shown.index(answer), shown
    assert "…" not in shown, shown  # no half-finished snapshot left behind

    shown = _turn(child, "remember basil", 2)
    assert shown.count("OK, I will remember basil.") == 1, shown
