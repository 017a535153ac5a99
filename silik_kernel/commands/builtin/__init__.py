"""The built-in silik commands, declared with the same public API plugins use.

One module per ``help`` section; :data:`BUILTIN_COMMANDS` holds them all, the
sections in the order ``help`` lists them.
"""

from __future__ import annotations

from dataclasses import replace

from silik_kernel.commands.builtin import kernels, mcp, session, tree
from silik_kernel.commands.registry import CommandRegistry


def _assemble(*sections: CommandRegistry) -> CommandRegistry:
    registry = CommandRegistry()
    for section in sections:
        for cmd in section.commands.values():
            registry.add(replace(cmd, section=section.section_of(cmd)))
    return registry


BUILTIN_COMMANDS = _assemble(session.commands, kernels.commands, tree.commands, mcp.commands)
