"""The command language: declarations, argument parsing and completion.

Completion runs against a real SilikManager whose tree is filled by hand, so no
kernel process starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import KINDS, Arg, Command, Opt
from silik_kernel.commands.parsing import split_lines
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import SilikError
from silik_kernel.manager import KernelRecord, SilikManager


def parse(line: str) -> dict[str, Any]:
    (only,) = split_lines(line)
    return BUILTIN_COMMANDS.get(only.words[0]).parse(only.words[1:])


NEW = {"labels": [], "count": 1, "folder": None, "gateway": None, "local": False}
DASHES = "; put `--` before an argument that starts with '-'"

# Every built-in command, with command lines that parse and what they give.
GOOD: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "help": [("help", {"command": None}), ("help new", {"command": "new"})],
    "exit": [("exit", {}), ("quit", {})],
    "connect": [("connect k1.py", {"path": "k1.py"}), ("> ~/w/k1.py", {"path": "~/w/k1.py"})],
    "cmd": [("cmd", {}), ("/cmd", {}), ("<", {})],
    "source": [("source setup.silik", {"file": "setup.silik"})],
    "cat": [("cat 'my notes.txt'", {"file": "my notes.txt"})],
    "kernels": [
        ("kernels", {"gateway": None}),
        ("kernels --gateway http://gw:8888", {"gateway": "http://gw:8888"}),
    ],
    "new": [
        ("new python3", {**NEW, "kernel": "python3"}),
        ("start python3", {**NEW, "kernel": "python3"}),
        ("new python3 -l a b c", {**NEW, "labels": ["a", "b", "c"], "kernel": "python3"}),
        ("new python3 -n 4", {**NEW, "count": 4, "kernel": "python3"}),
        ("new python3 -n -1", {**NEW, "count": -1, "kernel": "python3"}),  # the handler refuses
        (
            "new -d work python3 -l a",
            {**NEW, "labels": ["a"], "folder": "work", "kernel": "python3"},
        ),
        (
            "new python3 --count 2 --dir ~/w --label x",
            {**NEW, "labels": ["x"], "count": 2, "folder": "~/w", "kernel": "python3"},
        ),
        ("new ~/kernel-1.json -l ext", {**NEW, "labels": ["ext"], "kernel": "~/kernel-1.json"}),
        (
            "new python3 -l r1 --gateway http://gw:8888",
            {**NEW, "labels": ["r1"], "gateway": "http://gw:8888", "kernel": "python3"},
        ),
        ("new python3 --local", {**NEW, "local": True, "kernel": "python3"}),
    ],
    "stop": [
        ("stop a.py", {"paths": ["a.py"]}),
        ("stop a.py b.py c.py", {"paths": ["a.py", "b.py", "c.py"]}),
    ],
    "restart": [("restart k1.py", {"path": "k1.py"})],
    "interrupt": [("interrupt ~/k1.py", {"path": "~/k1.py"})],
    "run": [
        ('run "x = 19" k1.py', {"code": "x = 19", "path": "k1.py"}),
        (
            "run 'print(\"hello\")\nprint(2)' w/k1.py",
            {"code": 'print("hello")\nprint(2)', "path": "w/k1.py"},
        ),
        # code that starts with '-': quoted code with spaces, or after --
        ("run '-1 + x' k.r", {"code": "-1 + x", "path": "k.r"}),
        ("run -- -x k1.py", {"code": "-x", "path": "k1.py"}),
        ("run -- --help k1.py", {"code": "--help", "path": "k1.py"}),
        ("run -5 k1.py", {"code": "-5", "path": "k1.py"}),
    ],
    "broadcast": [
        ('broadcast "x = 1" a.py', {"code": "x = 1", "paths": ["a.py"]}),
        ("broadcast 'print(1)' ~/w/* b.py", {"code": "print(1)", "paths": ["~/w/*", "b.py"]}),
    ],
    "info": [("info", {"path": None}), ("info k1.py", {"path": "k1.py"})],
    "connect_info": [("connect_info", {"path": None}), ("connect_info k1.py", {"path": "k1.py"})],
    "history": [
        ("history", {"output": False, "n": 10, "path": None}),
        ("history -o -n 5 k1.py", {"output": True, "n": 5, "path": "k1.py"}),
        ("history k1.py --output", {"output": True, "n": 10, "path": "k1.py"}),
    ],
    "mkdir": [
        ("mkdir work", {"parents": False, "path": "work"}),
        ("mkdir -p ~/a/b/c", {"parents": True, "path": "~/a/b/c"}),
        ("mkdir a --parents", {"parents": True, "path": "a"}),
    ],
    "cd": [("cd", {"path": None}), ("cd ..", {"path": ".."})],
    "pwd": [("pwd", {})],
    "ls": [("ls", {"path": None}), ("ls work/", {"path": "work/"})],
    "tree": [("tree", {"path": None}), ("tree ~/a", {"path": "~/a"})],
    "usage": [("usage", {"path": None}), ("usage ~/team", {"path": "~/team"})],
    "rm": [
        ("rm k1.py", {"recursive": False, "path": "k1.py"}),
        ("rm -r work", {"recursive": True, "path": "work"}),
    ],
    "mv": [("mv k1.py work/", {"src": "k1.py", "dst": "work/"})],
    "mcp": [
        ("mcp", {"action": None, "port": None, "stateless": False}),
        ("mcp start -p 8765", {"action": "start", "port": 8765, "stateless": False}),
        ("mcp start --stateless", {"action": "start", "port": None, "stateless": True}),
    ],
}

# Every built-in command, with command lines that fail and what the error says.
BAD: dict[str, list[tuple[str, str]]] = {
    "help": [
        ("help new run", "unexpected argument 'run'"),
        ("help -x", "unknown option -x (options: none)" + DASHES),
    ],
    "exit": [("exit now", "unexpected argument 'now'")],
    "connect": [("connect", "missing PATH"), ("> a b", "unexpected argument 'b'")],
    "cmd": [("cmd x", "unexpected argument 'x'")],
    "source": [("source", "missing FILE"), ("source a b", "unexpected argument 'b'")],
    "cat": [("cat", "missing FILE")],
    "kernels": [("kernels python3", "unexpected argument 'python3'")],
    "new": [
        ("new", "missing KERNEL"),
        ("new python3 silik", "unexpected argument 'silik'"),
        (
            "new python3 -x",
            "unknown option -x (options: -l, --label, -n, --count, -d, --dir, -g, --gateway, --local)"
            + DASHES,
        ),
        ("new python3 -n x", "N must be a whole number, not 'x'"),
        ("new python3 -n 2.5", "N must be a whole number, not '2.5'"),
        ("new python3 -l", "-l needs a value (LABEL)"),
        ("new python3 -l -n 2", "-l needs a value (LABEL)"),
        ("new python3 --dir", "--dir needs a value (FOLDER)"),
        # -l takes every word up to the next option, so KERNEL goes first (as the usage shows)
        ("new -l a b python3", "missing KERNEL"),
    ],
    "stop": [
        ("stop", "missing PATHS"),
        ("stop -r a.py", "unknown option -r (options: none)" + DASHES),
    ],
    "restart": [("restart", "missing PATH"), ("restart a b", "unexpected argument 'b'")],
    "interrupt": [("interrupt", "missing PATH")],
    "run": [
        ("run", "missing CODE and PATH"),
        ("run 'x = 1'", "missing PATH"),
        ("run x = 1 k1.py", "unexpected argument '1' (put code in quotes)"),
        ("run -x k1.py", "unknown option -x (options: none)" + DASHES),
    ],
    "broadcast": [
        ("broadcast", "missing CODE and PATHS"),
        ("broadcast 'x = 1'", "missing PATHS"),
        ("broadcast -x k1.py", "unknown option -x (options: none)" + DASHES),
    ],
    "info": [("info a b", "unexpected argument 'b'")],
    "connect_info": [("connect_info a b", "unexpected argument 'b'")],
    "history": [
        ("history -n", "-n needs a value (N)"),
        ("history -n ten", "N must be a whole number, not 'ten'"),
        ("history a b", "unexpected argument 'b'"),
    ],
    "mkdir": [
        ("mkdir", "missing PATH"),
        ("mkdir -r a", "unknown option -r (options: -p, --parents)" + DASHES),
    ],
    "cd": [("cd a b", "unexpected argument 'b'")],
    "pwd": [("pwd ~", "unexpected argument '~'")],
    "ls": [("ls -l", "unknown option -l (options: none)" + DASHES)],
    "tree": [("tree a b", "unexpected argument 'b'")],
    "usage": [
        ("usage a b", "unexpected argument 'b'"),
        ("usage -a", "unknown option -a (options: none)" + DASHES),
    ],
    "rm": [
        ("rm", "missing PATH"),
        ("rm -rf a", "unknown option -rf (options: -r, --recursive)" + DASHES),
    ],
    "mv": [
        ("mv", "missing SRC and DST"),
        ("mv a", "missing DST"),
        ("mv a b c", "unexpected argument 'c'"),
    ],
    "mcp": [
        ("mcp start --port x", "N must be a whole number, not 'x'"),
        ("mcp start now", "unexpected argument 'now'"),
    ],
}


def test_every_command_has_parsing_cases() -> None:
    assert set(GOOD) == set(BUILTIN_COMMANDS.commands)
    assert set(BAD) == set(BUILTIN_COMMANDS.commands)


@pytest.mark.parametrize(
    ("line", "expected"),
    [case for cases in GOOD.values() for case in cases],
    ids=lambda x: str(x)[:40],
)
def test_parse_good_lines(line: str, expected: dict[str, Any]) -> None:
    assert parse(line) == expected


def test_int_options_give_ints() -> None:
    assert type(parse("new python3 -n 3")["count"]) is int
    assert type(parse("history -n 07")["n"]) is int


@pytest.mark.parametrize(
    ("name", "line", "problem"),
    [(name, line, problem) for name, cases in BAD.items() for line, problem in cases],
)
def test_parse_errors_name_the_problem_and_show_the_usage(
    name: str, line: str, problem: str
) -> None:
    with pytest.raises(SilikError) as info:
        parse(line)
    cmd = BUILTIN_COMMANDS.commands[name]
    assert info.value.message == f"{name}: {problem}"
    assert info.value.hint == f"usage: {cmd.usage}  (see `help {name}`)"


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("new", "new KERNEL [-l LABEL [LABEL...]] [-n N] [-d FOLDER] [-g URL] [--local]"),
        ("run", "run CODE PATH"),
        ("stop", "stop PATHS..."),
        ("history", "history [PATH] [-o] [-n N]"),
        ("help", "help [COMMAND]"),
        ("pwd", "pwd"),
    ],
)
def test_usage_lines(name: str, usage: str) -> None:
    assert BUILTIN_COMMANDS.commands[name].usage == usage


def test_positional_binding_with_optional_and_variadic_arguments() -> None:
    async def nothing(ctx: Context, values: dict[str, Any]) -> None:
        return None

    cmd = Command(
        "cp",
        "Copy.",
        nothing,
        args=[Arg("src", "from", nargs="+"), Arg("dst", "to"), Arg("mode", "how", nargs="?")],
    )
    assert cmd.usage == "cp SRC... DST [MODE]"
    assert cmd.parse(["a", "b"]) == {"src": ["a"], "dst": "b", "mode": None}
    # like argparse: left to right, each takes all it can and leaves the rest their minimum
    assert cmd.parse(["a", "b", "c"]) == {"src": ["a", "b"], "dst": "c", "mode": None}
    with pytest.raises(SilikError, match="missing SRC and DST"):
        cmd.parse([])
    with pytest.raises(SilikError, match="missing DST"):
        cmd.parse(["a"])
    star = Command("echo", "Echo.", nothing, args=[Arg("words", "what", nargs="*")])
    assert star.parse([]) == {"words": []}
    assert star.parse(["-", "x"]) == {"words": ["-", "x"]}
    opt_first = Command(
        "put",
        "Put.",
        nothing,
        args=[Arg("where", "to", nargs="?"), Arg("what", "items", nargs="+")],
    )
    assert opt_first.parse(["x"]) == {"where": None, "what": ["x"]}
    assert opt_first.parse(["x", "y", "z"]) == {"where": "x", "what": ["y", "z"]}
    count = Command("take", "Take.", nothing, args=[Arg("n", "how many", kind="int", nargs="?")])
    assert count.parse(["3"]) == {"n": 3}
    assert count.parse([]) == {"n": None}


# -- the registry -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("tre", "did you mean `tree`?"),
        ("mkdri", "did you mean `mkdir`?"),
        ("kernel", "did you mean `kernels`?"),
        ("xyzzy", "type `help` for the list of commands"),
    ],
)
def test_unknown_command_suggests_the_closest(typo: str, hint: str) -> None:
    with pytest.raises(SilikError) as info:
        BUILTIN_COMMANDS.get(typo)
    assert info.value.message == f"unknown command {typo!r}"
    assert info.value.hint == hint


@pytest.mark.parametrize(
    ("alias", "name"),
    [("quit", "exit"), (">", "connect"), ("<", "cmd"), ("/cmd", "cmd"), ("start", "new")],
)
def test_aliases_name_the_same_command(alias: str, name: str) -> None:
    assert BUILTIN_COMMANDS.get(alias) is BUILTIN_COMMANDS.get(name)
    assert alias in BUILTIN_COMMANDS.names()


def test_a_name_cannot_be_declared_twice() -> None:
    registry = BUILTIN_COMMANDS.copy()

    async def handler(ctx: Context, values: dict[str, Any]) -> None:
        return None

    with pytest.raises(ValueError, match="'ls' is declared twice"):
        registry.command("ls", "Another ls.")(handler)
    with pytest.raises(ValueError, match="'quit' is declared twice"):
        registry.command("bye", "Leave.", aliases=("quit",))(handler)


def test_a_copy_takes_new_commands_without_changing_the_original() -> None:
    registry = BUILTIN_COMMANDS.copy()

    @registry.command("hello", "Say hello.", args=[Arg("who", "whom to greet")])
    async def hello(ctx: Context, values: dict[str, Any]) -> str:
        return f"hello {values['who']}"

    assert registry.get("hello").parse(["you"]) == {"who": "you"}
    assert "hello" not in BUILTIN_COMMANDS.names()
    assert set(BUILTIN_COMMANDS.commands) < set(registry.commands)


# -- declarations -----------------------------------------------------------------
COMMANDS = list(BUILTIN_COMMANDS.commands.values())


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_declarations_are_complete(cmd: Command) -> None:
    assert cmd.summary.strip() and cmd.summary.endswith(".")
    assert cmd.section in ("Session", "Kernels", "Tree", "MCP")
    for a in cmd.args:
        assert a.help.strip(), f"{cmd.name} {a.name} has no help"
        assert a.kind in KINDS, f"{cmd.name} {a.name}: unknown kind {a.kind!r}"
        assert a.nargs in ("1", "?", "+", "*")
    for o in cmd.options:
        assert o.help.strip(), f"{cmd.name} {o.flags} has no help"
        assert o.kind in KINDS, f"{cmd.name} {o.flags}: unknown kind {o.kind!r}"
        assert all(f.startswith("-") and len(f) > 1 for f in o.flags)
        assert "--help" not in o.flags and "-h" not in o.flags  # reserved for help
    assert sum(a.nargs in ("+", "*") for a in cmd.args) <= 1
    keys = [a.name for a in cmd.args] + [o.dest for o in cmd.options]
    assert len(keys) == len(set(keys)), f"{cmd.name}: two values share a name"


def test_every_example_parses() -> None:
    for cmd in COMMANDS:
        for example in cmd.examples:
            line = example.split("    #")[0]
            (only,) = split_lines(line)
            assert BUILTIN_COMMANDS.get(only.words[0]) is cmd, example
            cmd.parse(only.words[1:])


# -- completion -------------------------------------------------------------------
def add_kernel(manager: SilikManager, folder: str, label: str, ext: str = ".py") -> None:
    entry = manager.tree.add_kernel(manager.tree.folder(folder), label, ext, f"id-{label}")
    manager.records[entry.kernel_id] = KernelRecord(entry, "python3")


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    """~/wide/, ~/work/deep/, ~/work/k2.py, ~/k1.py; the OS cwd is a scratch folder."""
    manager = SilikManager()
    manager.tree.mkdir("work/deep", parents=True)
    manager.tree.mkdir("wide")
    add_kernel(manager, "~", "k1")
    add_kernel(manager, "work", "k2")
    (tmp_path / "setup.silik").write_text("tree\n")
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.silik").write_text("")
    monkeypatch.chdir(tmp_path)
    # Completion never touches the frontend; a test that made it would fail here.
    return Context(manager, frontend=None, registry=BUILTIN_COMMANDS)  # type: ignore[arg-type]


def complete(ctx: Context, line: str) -> list[str]:
    matches, replaced = BUILTIN_COMMANDS.complete(ctx, line)
    typed = line.rsplit(" ", 1)[-1].lstrip("\"'>")
    assert replaced == len(typed), f"{line!r}: replaces {replaced} characters"
    return matches


def test_complete_command_names(ctx: Context) -> None:
    assert complete(ctx, "") == BUILTIN_COMMANDS.names()
    assert complete(ctx, "ne") == ["new"]
    assert complete(ctx, "st") == ["start", "stop"]
    assert complete(ctx, "connect") == ["connect", "connect_info"]
    assert complete(ctx, "xyz") == []


def test_complete_kernelspecs_after_new(ctx: Context) -> None:
    everything = complete(ctx, "new ")
    assert {"python3", "silik"} <= set(everything)
    assert "python3" in complete(ctx, "new py")
    assert all(m.startswith("py") for m in complete(ctx, "new py"))
    assert "silik" in complete(ctx, "start si")
    assert complete(ctx, "new no-such-spec") == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('run "x = 1" ', ["k1.py", "wide/", "work/"]),
        ('run "x = 1" w', ["wide/", "work/"]),
        ('run "x = 1" work/', ["work/deep/", "work/k2.py"]),
        ('run "x" ~/work/k', ["~/work/k2.py"]),
        ("run 'print(1)\nprint(2)' k", ["k1.py"]),
        ("> ", ["k1.py", "wide/", "work/"]),
        ("> work/", ["work/deep/", "work/k2.py"]),
        ("connect k", ["k1.py"]),
        ("stop k1.py ", ["k1.py", "wide/", "work/"]),  # stop takes several kernels
        ("mv k1.py w", ["wide/", "work/"]),
        ("ls work/d", ["work/deep/"]),
        ("rm -r w", ["wide/", "work/"]),
        ("history -n 3 k", ["k1.py"]),
        ("cd ", ["wide/", "work/"]),  # folders only
        ("cd work/", ["work/deep/"]),
        ("cd ~/", ["~/wide/", "~/work/"]),
        ("cd ~", ["~/"]),
        ("cd .", ["../"]),
        ("cd ..", ["../"]),
        ("cd nope/", []),
        ("cd k1.py/", []),
        ("new python3 -d ", ["wide/", "work/"]),
        ("new python3 -d wo", ["work/"]),
        ("new python3 -l ", []),  # labels are free text
        ("new python3 -n ", []),
        ("run ", []),  # code is free text
        ("run -- -x ", ["k1.py", "wide/", "work/"]),
        ("run -- -x k1.py ", []),
    ],
)
def test_complete_tree_paths(ctx: Context, line: str, expected: list[str]) -> None:
    assert complete(ctx, line) == expected


def test_complete_a_connect_shortcut_without_space(ctx: Context) -> None:
    assert BUILTIN_COMMANDS.complete(ctx, ">") == ([">k1.py", ">wide/", ">work/"], 1)
    assert BUILTIN_COMMANDS.complete(ctx, ">k") == ([">k1.py"], 2)


def test_complete_paths_relative_to_the_current_folder(ctx: Context) -> None:
    ctx.manager.tree.cd("work")
    assert complete(ctx, "cd ") == ["deep/"]
    assert complete(ctx, "cd ../") == ["../wide/", "../work/"]
    assert complete(ctx, "> ../") == ["../k1.py", "../wide/", "../work/"]
    assert complete(ctx, "> ") == ["deep/", "k2.py"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "new python3 -",
            [
                "-l",
                "--label",
                "-n",
                "--count",
                "-d",
                "--dir",
                "-g",
                "--gateway",
                "--local",
                "--help",
            ],
        ),
        ("new python3 --c", ["--count"]),
        ("rm -", ["-r", "--recursive", "--help"]),
        ("history k1.py --", ["--output", "--help"]),
        ("ls -", ["--help"]),
        ("ls --h", ["--help"]),
        ("mkdir -x", []),
    ],
)
def test_complete_option_flags(ctx: Context, line: str, expected: list[str]) -> None:
    assert complete(ctx, line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("source ", ["setup.silik", "sub/"]),
        ("source s", ["setup.silik", "sub/"]),
        ("cat se", ["setup.silik"]),
        ("source .", [".hidden"]),  # dot files only when asked for
        ("source sub/", ["sub/inner.silik"]),
        ("source nope/", []),
    ],
)
def test_complete_file_paths(ctx: Context, line: str, expected: list[str]) -> None:
    assert complete(ctx, line) == expected


def test_complete_absolute_and_home_file_paths(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert complete(ctx, f"source {tmp_path}/se") == [f"{tmp_path}/setup.silik"]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert complete(ctx, "cat ~/su") == ["~/sub/"]


def test_complete_help_topics(ctx: Context) -> None:
    assert complete(ctx, "help ") == BUILTIN_COMMANDS.names()
    assert complete(ctx, "help mk") == ["mkdir"]


def test_nothing_to_complete(ctx: Context) -> None:
    assert BUILTIN_COMMANDS.complete(ctx, "xyzzy ") == ([], 0)
    assert BUILTIN_COMMANDS.complete(ctx, "ls # a comm") == ([], 0)
    assert BUILTIN_COMMANDS.complete(ctx, "pwd ") == ([], 0)


# What completing a fresh argument of each kind offers in the `ctx` tree.
BY_KIND: dict[str, list[str]] = {
    "text": [],
    "code": [],
    "int": [],
    "path": ["k1.py", "wide/", "work/"],
    "kernel": ["k1.py", "wide/", "work/"],
    "folder": ["wide/", "work/"],
    "file": ["setup.silik", "sub/"],
    "command": BUILTIN_COMMANDS.names(),
}


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_every_command_completes_its_first_argument_by_kind(ctx: Context, cmd: Command) -> None:
    first = cmd.args[0].kind if cmd.args else "text"
    got = complete(ctx, f"{cmd.name} ")
    if cmd.args and cmd.args[0].completer is not None:  # its own completer instead
        assert got == cmd.args[0].completer(ctx, "")
    elif first == "kernelspec":
        assert {"python3", "silik"} <= set(got)
    else:
        assert got == BY_KIND[first]


def test_every_kind_has_a_completion_case() -> None:
    assert set(KINDS) == set(BY_KIND) | {"kernelspec"}


def test_option_values_complete_by_the_option_kind(ctx: Context) -> None:
    registry = CommandRegistry()

    async def handler(ctx: Context, values: dict[str, Any]) -> None:
        return None

    registry.add(
        Command(
            "demo",
            "Demo.",
            handler,
            args=[Arg("code", "some code", kind="code")],
            options=[
                Opt(("-k",), "kernels", "kernels", "K", kind="kernel", many=True),
                Opt(("-s",), "spec", "a spec", "S", kind="kernelspec"),
            ],
        )
    )
    local = Context(ctx.manager, ctx.frontend, registry)
    assert registry.complete(local, "demo -k k1.py w") == (["wide/", "work/"], 1)
    assert "python3" in registry.complete(local, "demo -s ")[0]
    assert registry.complete(local, "demo -s python3 ") == ([], 0)
