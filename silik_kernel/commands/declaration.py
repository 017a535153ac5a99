"""One command's declaration: its arguments, options and help, and how typed words bind to them.

A :class:`Command` is declared once (see :meth:`CommandRegistry.command`); its
usage line, ``--help`` text, help.md section, parser and completion all come
from these fields. :func:`check_declaration` refuses, when the command is
declared, what would break any of them.

A handler and a completer get the :class:`~silik_kernel.commands.context.Context`
of the cell. That context holds the registry, which holds these declarations, so
this module names it ``Any`` rather than importing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from silik_kernel.commands.frontend import Output
from silik_kernel.errors import SilikError

# Argument kinds decide completion (see completion.py) and conversion (`int`).
KINDS = ("text", "code", "path", "kernel", "folder", "kernelspec", "file", "command", "int")

#: A custom completer: ``(ctx, typed) -> matches`` for the word being typed.
Completer = Callable[[Any, str], list[str]]


@dataclass
class Arg:
    name: str
    help: str
    kind: str = "text"
    nargs: str = "1"  # "1", "?", "+", "*"
    completer: Completer | None = None  # overrides the kind's completion

    @property
    def usage(self) -> str:
        n = self.name.upper()
        return {"1": n, "?": f"[{n}]", "+": f"{n}...", "*": f"[{n}...]"}[self.nargs]


@dataclass
class Opt:
    flags: tuple[str, ...]
    dest: str
    help: str
    metavar: str | None = None  # None: a flag without a value
    kind: str = "text"
    many: bool = False  # takes several values: `-l a b c`
    default: Any = None
    completer: Completer | None = None  # overrides the kind's completion

    @property
    def usage(self) -> str:
        value = (
            f" {self.metavar}" + (f" [{self.metavar}...]" if self.many else "")
            if self.metavar
            else ""
        )
        return f"[{self.flags[0]}{value}]"


Result = Output | str | None
#: ``(ctx, values) -> Output | str | None``; a coroutine function, or a plain function.
Handler = Callable[[Any, dict[str, Any]], Awaitable[Result] | Result]


@dataclass
class Command:
    name: str
    summary: str
    handler: Handler
    args: list[Arg] = field(default_factory=list)
    options: list[Opt] = field(default_factory=list)
    aliases: tuple[str, ...] = ()
    details: str = ""
    examples: list[str] = field(default_factory=list)
    section: str | None = None  # None: the section of the registry it is added to
    # Only shows names and statuses, as an agent's list_tree does: an agent's
    # policy lets it name any path here, its own kernels or not.
    lists_only: bool = False

    @property
    def usage(self) -> str:
        # Arguments before options: `new KERNEL -l A B` works as shown, while
        # `new -l A B KERNEL` would give KERNEL to -l as another label.
        parts = [self.name] + [a.usage for a in self.args] + [o.usage for o in self.options]
        return " ".join(parts)

    def help(self) -> str:
        lines = [f"usage: {self.usage}", "", self.summary]
        if self.aliases:
            lines.append(f"alias: {', '.join(self.aliases)}")
        if self.details:
            lines += ["", self.details]
        if self.args or self.options:
            lines.append("")
            width = max(
                len(x)
                for x in [a.name.upper() for a in self.args] + [_opt_label(o) for o in self.options]
            )
            for a in self.args:
                lines.append(f"  {a.name.upper():<{width}}  {a.help}")
            for o in self.options:
                lines.append(f"  {_opt_label(o):<{width}}  {o.help}")
        if self.examples:
            lines += ["", "examples:"] + [f"  {e}" for e in self.examples]
        return "\n".join(lines)

    def parse(self, words: list[str]) -> dict[str, Any]:
        """Bind words to arguments; a SilikError says what is wrong and shows the usage."""
        values: dict[str, Any] = {o.dest: ([] if o.many else o.default) for o in self.options}
        for o in self.options:
            if o.metavar is None:
                values[o.dest] = False
        positional = self._take_options(words, values)
        self._check_count(positional)
        self._take_positional(positional, values)
        return values

    def _take_options(self, words: list[str], values: dict[str, Any]) -> list[str]:
        """Put the options' values in ``values``; the other words, in order."""
        by_flag = {f: o for o in self.options for f in o.flags}
        positional: list[str] = []
        i = 0
        only_positional = False
        while i < len(words):
            w = words[i]
            if w == "--" and not only_positional:
                only_positional = True
            elif not only_positional and _looks_like_option(w):
                opt = by_flag.get(w)
                if opt is None:
                    known = ", ".join(f for o in self.options for f in o.flags) or "none"
                    raise self._error(
                        f"unknown option {w} (options: {known}); "
                        "put `--` before an argument that starts with '-'"
                    )
                if opt.metavar is None:
                    values[opt.dest] = True
                else:
                    got = self._option_values(opt, words[i + 1 :])
                    if not got:
                        raise self._error(f"{w} needs a value ({opt.metavar})")
                    i += len(got)
                    if opt.many:
                        values[opt.dest].extend(got)
                    else:
                        values[opt.dest] = got[0]
            else:
                positional.append(w)
            i += 1
        return positional

    def _option_values(self, opt: Opt, after: list[str]) -> list[Any]:
        """The values of ``opt`` at the start of ``after``: one, or up to the next option if many."""
        got = []
        for w in after:
            if _looks_like_option(w):
                break
            got.append(self._convert(opt.kind, w, opt.metavar or ""))
            if not opt.many:
                break
        return got

    def _check_count(self, positional: list[str]) -> None:
        fixed = sum(1 for a in self.args if a.nargs == "1")
        optional = sum(1 for a in self.args if a.nargs == "?")
        variadic = next((a for a in self.args if a.nargs in "+*"), None)
        if len(positional) < fixed + (1 if variadic and variadic.nargs == "+" else 0):
            missing = [a.name.upper() for a in self.args if a.nargs in ("1", "+")]
            raise self._error(f"missing {' and '.join(missing[len(positional) :] or missing)}")
        if variadic is None and len(positional) > fixed + optional:
            extra = positional[fixed + optional :]
            hint_quote = " (put code in quotes)" if any(a.kind == "code" for a in self.args) else ""
            raise self._error(f"unexpected argument {extra[0]!r}{hint_quote}")

    def _take_positional(self, positional: list[str], values: dict[str, Any]) -> None:
        # Left to right, each argument takes as many words as it can while leaving
        # the later ones their minimum (like argparse).
        idx = 0
        for k, a in enumerate(self.args):
            later_min = sum(1 for b in self.args[k + 1 :] if b.nargs in ("1", "+"))
            spare = len(positional) - idx - later_min
            take = 1 if a.nargs == "1" else min(1, spare) if a.nargs == "?" else spare
            got = [self._convert(a.kind, w, a.name.upper()) for w in positional[idx : idx + take]]
            idx += take
            if a.nargs in "+*":
                values[a.name] = got
            else:
                values[a.name] = got[0] if got else None

    def _convert(self, kind: str, word: str, label: str) -> Any:
        if kind == "int":
            try:
                return int(word)
            except ValueError:
                raise self._error(f"{label} must be a whole number, not {word!r}") from None
        return word

    def _error(self, message: str) -> SilikError:
        return SilikError(
            f"{self.name}: {message}", hint=f"usage: {self.usage}  (see `help {self.name}`)"
        )


def _opt_label(o: Opt) -> str:
    return ", ".join(o.flags) + (f" {o.metavar}" if o.metavar else "")


def _looks_like_option(w: str) -> bool:
    """``-x``, ``--name``; not ``-``, ``-3`` or quoted code such as ``-1 + x``."""
    return (
        w.startswith("-") and len(w) > 1 and not _is_number(w) and not any(c.isspace() for c in w)
    )


def _is_number(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def check_declaration(cmd: Command) -> None:
    """Refuse declarations that would break parsing, help or completion, at declaration time."""
    where = f"silik command {cmd.name!r}"
    if not cmd.name or any(c.isspace() for c in cmd.name) or cmd.name.startswith("-"):
        raise ValueError(f"{where}: a name is one word that does not start with '-'")
    if not cmd.summary.strip():
        raise ValueError(f"{where}: the summary is empty")
    for a in cmd.args:
        if a.kind not in KINDS:
            raise ValueError(f"{where}: {a.name} has kind {a.kind!r}; kinds: {', '.join(KINDS)}")
        if a.nargs not in ("1", "?", "+", "*"):
            raise ValueError(f"{where}: {a.name} has nargs {a.nargs!r}; use 1, ?, + or *")
    if sum(a.nargs in ("+", "*") for a in cmd.args) > 1:
        raise ValueError(f"{where}: only one argument may take several words")
    for o in cmd.options:
        if o.kind not in KINDS:
            raise ValueError(
                f"{where}: {o.flags[0]} has kind {o.kind!r}; kinds: {', '.join(KINDS)}"
            )
        if not o.flags or not all(f.startswith("-") and len(f) > 1 for f in o.flags):
            raise ValueError(f"{where}: option flags look like -x or --name, not {o.flags!r}")
        if {"-h", "--help"} & set(o.flags):
            raise ValueError(f"{where}: -h and --help are reserved for help")
    keys = [a.name for a in cmd.args] + [o.dest for o in cmd.options]
    if len(keys) != len(set(keys)):
        raise ValueError(f"{where}: two arguments or options share a name")
