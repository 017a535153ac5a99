"""The built-in commands: one module per help section, assembled into BUILTIN_COMMANDS."""

from __future__ import annotations

from silik_kernel.commands.builtin import BUILTIN_COMMANDS, kernels, mcp, session, tree
from silik_kernel.commands.builtin.kernels import run_on_kernel

MODULES = [session, kernels, tree, mcp]


def test_sections_come_in_module_order() -> None:
    assert list(BUILTIN_COMMANDS.sections()) == ["Session", "Kernels", "Tree", "MCP"]
    assert [m.commands.default_section for m in MODULES] == ["Session", "Kernels", "Tree", "MCP"]


def test_every_command_of_a_module_is_built_in_under_its_section() -> None:
    sections = BUILTIN_COMMANDS.sections()
    for module in MODULES:
        declared = list(module.commands.commands.values())
        built_in = sections[module.commands.default_section]
        assert [c.name for c in built_in] == [c.name for c in declared]
        for mine, theirs in zip(built_in, declared, strict=True):
            assert mine.handler is theirs.handler
            assert mine.section == module.commands.default_section
    assert sum(len(m.commands.commands) for m in MODULES) == len(BUILTIN_COMMANDS.commands)


def test_run_is_handled_by_run_on_kernel() -> None:
    # The kernel runs a `run` cell on its fast path only while `run` has this handler.
    assert BUILTIN_COMMANDS.get("run").handler is run_on_kernel
