"""The silik command language.

Each command is declared once with :meth:`CommandRegistry.command`: its
arguments, options, help text and the kind of value each argument takes. The
parser, ``help``, ``CMD --help``, TAB completion and ``help.md`` are all derived
from that declaration, so they cannot drift apart. The same decorator is the
public way to add commands, from a kernel subclass or a plugin package (see
:mod:`silik_kernel.api` and the README, "Extending silik").
"""

from __future__ import annotations

import difflib
import html
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from silik_kernel.commands.parsing import Line, split_partial
from silik_kernel.errors import SilikError

if TYPE_CHECKING:
    from silik_kernel.commands.fanout import KernelDone, KernelOutput
    from silik_kernel.manager import SilikManager
    from silik_kernel.subkernels.execution import ExecuteOptions, Message

log = logging.getLogger("silik.commands")

# What a path word may hold: names (letters, digits, _ . + -), ~, / and glob characters.
_PATH_WORD = re.compile(r"^[A-Za-z0-9_.+\-~/*?\[\]!]+$")


# -- what a command can do to the frontend ---------------------------------
class Frontend(Protocol):
    """The kernel side a command talks to (implemented by SilikKernel)."""

    def print(self, text: str, name: str = "stdout") -> None: ...

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...

    async def relay(self, path: str, code: str) -> dict[str, Any]:
        """Run code on a sub-kernel, forwarding its messages to the cell; the execute_reply content."""
        ...

    def forward(self, msg: Message) -> None:
        """Show one output message of a sub-kernel in the cell, as the sub-kernel sent it."""
        ...

    def running(self, path: str) -> AbstractContextManager[Any]:
        """While inside, interrupting the cell interrupts the kernel at ``path`` too."""
        ...

    def enter_connect_mode(self, path: str) -> None: ...

    def leave_connect_mode(self) -> None: ...

    def request_exit(self) -> None: ...

    @property
    def connected_path(self) -> str | None: ...


@dataclass
class Output:
    """A command's result: plain text always, HTML for notebooks when it helps."""

    text: str
    html: str | None = None

    @classmethod
    def table(cls, headers: list[str], rows: Iterable[Iterable[Any]]) -> Output:
        """Aligned columns for consoles, an HTML table for notebooks."""
        cells = [[str(c) for c in r] for r in rows]
        widths = [max(len(x) for x in col) for col in zip(headers, *cells, strict=True)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        text = "\n".join(line.format(*r).rstrip() for r in [headers, *cells])
        th = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in r)
            + "</tr>"
            for r in cells
        )
        return cls(text, f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>")


@dataclass
class Context:
    """What a command's handler gets besides its argument values.

    ``manager`` is the SilikManager (the API the agent tools use too): start,
    stop, execute on, interrupt and inspect kernels by path. ``frontend`` is the
    cell the command runs in. The methods below are shortcuts for common needs.
    """

    manager: SilikManager
    frontend: Frontend
    registry: CommandRegistry
    run_lines: Callable[[list[Line], str], Awaitable[None]] | None = None  # used by `source`

    def print(self, text: str, name: str = "stdout") -> None:
        """Show text in the cell now (``name="stderr"`` for warnings)."""
        self.frontend.print(text, name)

    def show(self, out: Output) -> None:
        """Show an Output now, as if a command had returned it."""
        if out.html is None:
            self.frontend.print(out.text)
        else:
            self.frontend.display({"text/plain": out.text, "text/html": out.html})

    def forward(self, output: KernelOutput) -> None:
        """Show a sub-kernel's output message in the cell exactly as the kernel sent it."""
        self.frontend.forward(output.msg)

    def kernel_paths(self, patterns: Iterable[str]) -> list[str]:
        """Absolute kernel paths named by ``patterns``; globs (``~/workers/*``) name several.

        Each pattern must name at least one kernel. The order is the order of the
        patterns, then display order; a kernel named twice appears once.
        """
        from silik_kernel.tree import KernelEntry, is_pattern

        found: dict[str, None] = {}
        for pattern in patterns:
            if not _PATH_WORD.match(pattern):  # `broadcast x = 1 a.py`: code without quotes
                raise SilikError(
                    f"{pattern!r} is not a kernel path", hint='put the code in quotes: "x = 1"'
                )
            nodes = self.manager.tree.glob(pattern)
            kernels = [n for n in nodes if isinstance(n, KernelEntry)]
            if not kernels:
                folder = nodes[0].path
                what = "only folders" if is_pattern(pattern) else "a folder, not a kernel"
                raise SilikError(
                    f"{pattern} names {what}", hint=f"`{folder}/*` names the kernels in {folder}"
                )
            found.update(dict.fromkeys(k.path for k in kernels))
        return list(found)

    def run_many(
        self, paths: Iterable[str], code: str, options: ExecuteOptions | None = None
    ) -> AsyncIterator[KernelOutput | KernelDone]:
        """Run ``code`` on every kernel at once; events from all of them as they arrive.

        See :func:`silik_kernel.fanout.fan_out`. An interrupt of the cell
        interrupts every kernel still running.
        """
        from silik_kernel.commands.fanout import fan_out

        return fan_out(self.manager, list(paths), code, options, running=self.frontend.running)


class SubKernelError(SilikError):
    """A sub-kernel's error, already shown in the cell by the relay."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content
        super().__init__(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")


# -- declarations ------------------------------------------------------------
# Argument kinds decide completion: each has one completer below.
KINDS = ("text", "code", "path", "kernel", "folder", "kernelspec", "file", "command", "int")

#: A custom completer: ``(ctx, typed) -> matches`` for the word being typed.
Completer = Callable[["Context", str], list[str]]


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
Handler = Callable[[Context, dict[str, Any]], Awaitable[Result] | Result]


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
                    got = []
                    while i + 1 < len(words) and not _looks_like_option(words[i + 1]):
                        got.append(self._convert(opt.kind, words[i + 1], opt.metavar))
                        i += 1
                        if not opt.many:
                            break
                    if not got:
                        raise self._error(f"{w} needs a value ({opt.metavar})")
                    if opt.many:
                        values[opt.dest].extend(got)
                    else:
                        values[opt.dest] = got[0]
            else:
                positional.append(w)
            i += 1
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
        return values

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
        _check_declaration(cmd)
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
    def complete(self, ctx: Context, line: str) -> tuple[list[str], int]:
        """Matches for the word at the end of ``line`` and how many characters they replace."""
        partial = split_partial(line)
        if partial is None:  # inside a comment
            return [], 0
        words, current = partial
        if not words:
            if current.startswith(">"):
                typed = current[1:]
                return [">" + m for m in complete_kind(ctx, "kernel", typed)], len(current)
            return [n for n in self.names() if n.startswith(current)], len(current)
        try:
            cmd = self.get(words[0])
        except SilikError:
            return [], 0
        if current.startswith("-"):
            flags = [f for o in cmd.options for f in o.flags if f.startswith(current)]
            return flags + (["--help"] if "--help".startswith(current) else []), len(current)
        decl = _declaration_at(cmd, words[1:])
        if decl is not None and decl.completer is not None:
            try:
                return list(decl.completer(ctx, current)), len(current)
            except Exception:
                log.exception("the completer of %s failed", cmd.name)
                return [], 0
        return complete_kind(ctx, decl.kind if decl else "text", current), len(current)


def _check_declaration(cmd: Command) -> None:
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


def _declaration_at(cmd: Command, before: list[str]) -> Arg | Opt | None:
    """The argument or option value expected after ``before`` (the words after the command)."""
    by_flag = {f: o for o in cmd.options for f in o.flags}
    positional = 0
    pending: Opt | None = None
    for i, w in enumerate(before):
        if w == "--":  # everything after it is positional, as in Command.parse
            pending = None
            positional += len(before) - i - 1
            break
        if w.startswith("-") and w in by_flag:
            o = by_flag[w]
            pending = o if o.metavar else None
            continue
        if pending is not None:
            if not pending.many:
                pending = None
            continue
        positional += 1
    if pending is not None:
        return pending
    idx = 0
    for a in cmd.args:
        if a.nargs in "+*":
            return a
        if idx == positional:
            return a
        idx += 1
    return None


def complete_kind(ctx: Context, kind: str, typed: str) -> list[str]:
    if kind == "kernelspec":
        return [s.name for s in ctx.manager.kernelspecs() if s.name.startswith(typed)]
    if kind in ("path", "kernel", "folder"):
        return _complete_tree_path(ctx, kind, typed)
    if kind == "file":
        return _complete_file(typed)
    if kind == "command":
        return [n for n in ctx.registry.names() if n.startswith(typed)]
    return []


def _complete_tree_path(ctx: Context, kind: str, typed: str) -> list[str]:
    from silik_kernel.tree import Folder

    if typed == "~":
        return ["~/"]
    head, _, stem = typed.rpartition("/")
    tree = ctx.manager.tree
    try:
        folder = tree.folder(head) if head else tree.cwd
    except SilikError:
        return []
    prefix = head + "/" if head else ""
    out = []
    for name, node in folder.children.items():
        if not name.startswith(stem):
            continue
        is_folder = isinstance(node, Folder)
        if kind == "folder" and not is_folder:
            continue
        out.append(prefix + name + ("/" if is_folder else ""))
    if stem.startswith(".") and "..".startswith(stem):
        out.append(prefix + "../")
    return sorted(out)


def _complete_file(typed: str) -> list[str]:
    expanded = os.path.expanduser(typed)
    head, stem = os.path.split(expanded)
    try:
        names = os.listdir(head or ".")
    except OSError:
        return []
    shown_head = typed[: len(typed) - len(stem)]
    out = []
    for name in sorted(names):
        if name.startswith(stem) and (stem.startswith(".") or not name.startswith(".")):
            full = os.path.join(head or ".", name)
            out.append(shown_head + name + ("/" if os.path.isdir(full) else ""))
    return out
