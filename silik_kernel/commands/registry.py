"""The silik command language: every command by name, and what is derived from them all.

Each command is declared once with :meth:`CommandRegistry.command`: its
arguments, options, help text and the kind of value each argument takes (see
declaration.py). The parser, ``help``, ``CMD --help``, TAB completion and
``help.md`` are all derived from that declaration, so they cannot drift apart.
The same decorator is the public way to add commands, from a kernel subclass or
a plugin package (see :mod:`silik_kernel.api` and the README, "Extending silik").
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from silik_kernel.commands.completion import complete_value, declaration_at
from silik_kernel.commands.declaration import Arg, Command, Handler, Opt, check_declaration
from silik_kernel.commands.parsing import split_partial
from silik_kernel.errors import SilikError

log = logging.getLogger("silik.commands")


class CommandRegistry:
    """All commands by name and alias.

    ``default_section`` heads, in ``help``, the commands declared without a
    section. ``problems`` lists plugins that failed to load (see plugins.py);
    ``help`` mentions them.
    """

    def __init__(self, default_section: str = "Commands") -> None:
        self.commands: dict[str, Command] = {}
        self._names: dict[str, Command] = {}
        self.default_section = default_section
        self.problems: list[str] = []

    def add(self, cmd: Command) -> Command:
        check_declaration(cmd)
        for name in (cmd.name, *cmd.aliases):
            if name in self._names:
                raise ValueError(f"silik command {name!r} is declared twice")
        self.commands[cmd.name] = cmd
        for name in (cmd.name, *cmd.aliases):
            self._names[name] = cmd
        return cmd

    def command(
        self,
        name: str,
        summary: str,
        *,
        args: Iterable[Arg] = (),
        options: Iterable[Opt] = (),
        aliases: Iterable[str] = (),
        details: str = "",
        examples: Iterable[str] = (),
        section: str | None = None,
        lists_only: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare a command; the decorated function gets ``(ctx, values)``.

        ``values`` maps each Arg's name and each Opt's dest to what was typed
        (converted for ``kind="int"``; a list for ``nargs`` ``+``/``*`` and
        ``many`` options). Return an Output, a string, or None; raise SilikError
        for mistakes the user can fix.
        """

        def decorate(fn: Handler) -> Handler:
            self.add(
                Command(
                    name,
                    summary,
                    fn,
                    list(args),
                    list(options),
                    tuple(aliases),
                    details,
                    list(examples),
                    section,
                    lists_only,
                )
            )
            return fn

        return decorate

    def copy(self, section: str | None = None) -> CommandRegistry:
        """The same commands in a new registry; commands added to it change only it.

        ``section`` heads the commands later declared on the copy without one.
        """
        new = CommandRegistry(section or self.default_section)
        for cmd in self.commands.values():
            # Pin the section a command shows under here, whatever the copy's default.
            new.add(cmd if cmd.section else replace(cmd, section=self.default_section))
        new.problems = list(self.problems)
        return new

    def section_of(self, cmd: Command) -> str:
        return cmd.section or self.default_section

    def get(self, name: str) -> Command:
        cmd = self._names.get(name)
        if cmd is None:
            close = difflib.get_close_matches(name, list(self._names), n=1, cutoff=0.6)
            hint = (
                f"did you mean `{close[0]}`?" if close else "type `help` for the list of commands"
            )
            raise SilikError(f"unknown command {name!r}", hint=hint)
        return cmd

    def names(self) -> list[str]:
        return sorted(self._names)

    def sections(self) -> dict[str, list[Command]]:
        out: dict[str, list[Command]] = {}
        for cmd in self.commands.values():
            out.setdefault(self.section_of(cmd), []).append(cmd)
        return out

    # -- help ----------------------------------------------------------------
    def overview(self) -> str:
        lines = []
        for section, cmds in self.sections().items():
            lines.append(f"{section}:")
            width = max(len(c.name) for c in cmds)
            for c in cmds:
                alias = f" (alias: {', '.join(c.aliases)})" if c.aliases else ""
                lines.append(f"  {c.name:<{width}}  {c.summary}{alias}")
            lines.append("")
        if self.problems:
            lines.append("Not loaded:")
            lines += [f"  {p}" for p in self.problems]
            lines.append("")
        lines.append("`help COMMAND` or `COMMAND --help` shows a command's arguments.")
        return "\n".join(lines)

    def markdown(self) -> str:
        out = [
            "# silik commands",
            "",
            "Generated from the command declarations by `python -m silik_kernel help-md`;",
            "do not edit by hand.",
            "",
        ]
        for section, cmds in self.sections().items():
            out += [f"## {section}", ""]
            for c in cmds:
                out += [f"### `{c.name}`", "", "```", c.help(), "```", ""]
        return "\n".join(out)

    # -- completion ------------------------------------------------------------
    def complete(self, ctx: Any, line: str) -> tuple[list[str], int]:
        """Matches for the word at the end of ``line`` and how many characters they replace."""
        partial = split_partial(line)
        if partial is None:  # inside a comment
            return [], 0
        words, current = partial
        if not words:
            if current.startswith(">"):
                typed = current[1:]
                return [">" + m for m in complete_value(ctx.manager, "kernel", typed)], len(current)
            return [n for n in self.names() if n.startswith(current)], len(current)
        try:
            cmd = self.get(words[0])
        except SilikError:
            return [], 0
        if current.startswith("-"):
            flags = [f for o in cmd.options for f in o.flags if f.startswith(current)]
            return flags + (["--help"] if "--help".startswith(current) else []), len(current)
        decl = declaration_at(cmd, words[1:])
        if decl is not None and decl.completer is not None:
            try:
                return list(decl.completer(ctx, current)), len(current)
            except Exception:
                log.exception("the completer of %s failed", cmd.name)
                return [], 0
        kind = decl.kind if decl else "text"
        if kind == "command":
            return [n for n in ctx.registry.names() if n.startswith(current)], len(current)
        return complete_value(ctx.manager, kind, current), len(current)
