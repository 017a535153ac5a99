"""A cell is planned once: every line's command and values, or the error its turn reports."""

from __future__ import annotations

import pytest

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.parsing import UnterminatedQuote
from silik_kernel.commands.runner import plan_cell


def test_a_plain_run_line_names_its_kernel_and_code():
    (line,) = plan_cell(BUILTIN_COMMANDS, 'run "x = 1" k1.py')
    assert line.plain_run == ("k1.py", "x = 1")
    assert line.error is None


def test_other_lines_are_not_plain_runs():
    plan = plan_cell(BUILTIN_COMMANDS, 'run --help\nls\nrun "x" a.py b.py')
    assert [p.plain_run for p in plan] == [None, None, None]
    assert plan[0].wants_help
    assert plan[2].error is not None  # too many arguments: reported when its turn comes


def test_a_bad_line_keeps_its_error_for_its_turn():
    plan = plan_cell(BUILTIN_COMMANDS, "ls\nnosuchcommand x\n<oops")
    assert plan[0].error is None
    assert "nosuchcommand" in plan[1].error.message
    assert "unknown command" in plan[2].error.message


def test_an_unterminated_quote_fails_the_whole_plan():
    with pytest.raises(UnterminatedQuote):
        plan_cell(BUILTIN_COMMANDS, 'run "x = 1 k1.py')
