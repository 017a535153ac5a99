"""Extending silik: commands from a kernel subclass and from plugin packages.

Pure tests of the registry and the plugin loader first, then real kernels:
a subclass started from its own kernelspec, the example plugin pip-installed
and used through jupyter_client, and broken plugins that must not stop silik.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import KernelDriver

from silik_kernel.api import (
    Arg,
    CommandRegistry,
    Context,
    Opt,
    Output,
    SilikKernel,
    load_plugins,
)
from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.runner import run_words
from silik_kernel.manager import SilikManager

ROOT = Path(__file__).resolve().parents[2]
TIMEIT_PLUGIN = ROOT / "examples" / "plugins" / "silik_timeit"


# -- declaring commands -----------------------------------------------------------
async def greet(ctx: Context, values: dict[str, Any]) -> str:
    return f"hello {values['who']}"


class GreetingKernel(SilikKernel):
    """A subclass: its commands are a copy of its parent's."""


GreetingKernel.commands.command("hello", "Greet someone.", args=[Arg("who", "whom to greet")])(
    greet
)


def test_a_subclass_adds_commands_without_changing_its_parent() -> None:
    assert "hello" in GreetingKernel.commands.names()
    assert "hello" not in SilikKernel.commands.names()
    assert SilikKernel.commands is BUILTIN_COMMANDS
    assert GreetingKernel.commands.sections()["Commands"] == [GreetingKernel.commands.get("hello")]

    class Deeper(GreetingKernel):
        pass

    Deeper.commands.command("bye", "Say goodbye.")(greet)
    assert "hello" in Deeper.commands.names()
    assert "bye" not in GreetingKernel.commands.names()


def test_a_copy_can_name_the_section_of_its_new_commands() -> None:
    mine = BUILTIN_COMMANDS.copy(section="My tools")
    mine.command("hello", "Greet someone.", args=[Arg("who", "whom to greet")])(greet)
    mine.command("where", "Elsewhere.", section="Tree")(greet)
    sections = mine.sections()
    assert [c.name for c in sections["My tools"]] == ["hello"]
    assert sections["Tree"][-1].name == "where"
    built_in = list(BUILTIN_COMMANDS.sections())
    assert list(sections)[: len(built_in)] == built_in  # built-in sections first
    assert "My tools:\n  hello  Greet someone." in mine.overview()
    assert "## My tools\n\n### `hello`" in mine.markdown()


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (dict(name="two words"), "a name is one word"),
        (dict(args=[Arg("x", "x", kind="colour")]), "x has kind 'colour'; kinds: text, code"),
        (dict(args=[Arg("x", "x", nargs="2")]), "x has nargs '2'"),
        (dict(args=[Arg("a", "a", nargs="+"), Arg("b", "b", nargs="*")]), "only one argument"),
        (dict(options=[Opt(("-h",), "h", "help me")]), "-h and --help are reserved"),
        (dict(options=[Opt(("x",), "x", "x")]), "option flags look like -x or --name"),
        (dict(args=[Arg("x", "x")], options=[Opt(("-x",), "x", "x")]), "share a name"),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_at_once(
    declare: dict[str, Any], message: str
) -> None:
    registry = CommandRegistry()
    name = declare.pop("name", "thing")
    with pytest.raises(ValueError, match=message):
        registry.command(name, "Do a thing.", **declare)(greet)
    assert registry.names() == []


async def test_a_handler_may_be_a_plain_function() -> None:
    registry = CommandRegistry()

    @registry.command("shout", "Shout.", args=[Arg("word", "what to shout")])
    def shout(ctx: Context, values: dict[str, Any]) -> Output:
        return Output(values["word"].upper() + "!")

    ctx = Context(manager=None, frontend=None, registry=registry)  # type: ignore[arg-type]
    assert await run_words(ctx, ["shout", "hey"]) == Output("HEY!")


def test_custom_completers_complete_their_argument() -> None:
    registry = CommandRegistry()
    colours = ["red", "green", "grey"]

    def broken(ctx: Context, typed: str) -> list[str]:
        raise RuntimeError("a plugin bug")

    registry.command(
        "paint",
        "Paint kernels.",
        args=[
            Arg("colour", "a colour", completer=lambda ctx, t: [c for c in colours if c[0] == t]),
            Arg("paths", "kernels", kind="kernel", nargs="+"),
        ],
        options=[Opt(("-f", "--finish"), "finish", "a finish", "F", completer=broken)],
    )(greet)
    manager = SilikManager()
    manager.tree.mkdir("work")
    ctx = Context(manager=manager, frontend=None, registry=registry)  # type: ignore[arg-type]
    assert registry.complete(ctx, "paint g") == (["green", "grey"], 1)
    assert registry.complete(ctx, "paint red w") == (["work/"], 1)  # the kind's completer
    assert registry.complete(ctx, "paint red -f ") == ([], 0)  # a failing completer: nothing


def test_output_table_aligns_text_and_escapes_html() -> None:
    table = Output.table(["kernel", "time"], [["~/a.py", "1 ms"], ["~/<b>.py", 22]])
    assert table.text == "kernel    time\n~/a.py    1 ms\n~/<b>.py  22"
    assert "<td style='text-align:left'>~/&lt;b&gt;.py</td>" in (table.html or "")


# -- loading plugins ----------------------------------------------------------------
@dataclass
class FakeEntryPoint:
    """What load_plugins needs of an importlib.metadata.EntryPoint."""

    name: str
    target: Any  # what load() returns, or the exception it raises
    dist_name: str = "silik-fake"

    @property
    def value(self) -> str:
        return f"fake_{self.name}:commands"

    @property
    def dist(self) -> SimpleNamespace:
        return SimpleNamespace(name=self.dist_name)

    def load(self) -> Any:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def greeting_registry() -> CommandRegistry:
    registry = CommandRegistry()
    registry.command("hello", "Greet someone.", args=[Arg("who", "whom to greet")])(greet)
    registry.command("where", "A command with its own section.", section="Tree")(greet)
    return registry


def register_wave(registry: CommandRegistry) -> None:
    registry.command("wave", "Wave.")(greet)


def test_plugins_add_commands_in_their_own_section() -> None:
    plugins = [
        FakeEntryPoint("greet", greeting_registry(), "silik-greet"),
        FakeEntryPoint("wave", register_wave, "silik-wave"),
    ]
    registry = load_plugins(BUILTIN_COMMANDS, plugins)
    sections = registry.sections()
    assert [c.name for c in sections["silik-greet (plugin)"]] == ["hello"]
    assert [c.name for c in sections["silik-wave (plugin)"]] == ["wave"]
    assert sections["Tree"][-1].name == "where"  # a section the plugin chose is kept
    assert registry.problems == []
    assert "silik-greet (plugin):\n  hello  Greet someone." in registry.overview()
    assert "## silik-wave (plugin)\n\n### `wave`" in registry.markdown()
    assert "hello" not in BUILTIN_COMMANDS.names()  # the built-ins are untouched


def test_a_failing_plugin_adds_nothing_and_is_reported() -> None:
    def half_then_fail(registry: CommandRegistry) -> None:
        registry.command("half", "Half a plugin.")(greet)
        raise RuntimeError("config missing")

    def steal_ls(registry: CommandRegistry) -> None:
        registry.command("mine", "Fine on its own.")(greet)
        registry.command("ls", "Another ls.")(greet)

    plugins = [
        FakeEntryPoint("boom", ImportError("No module named 'numpy'"), "silik-boom"),
        FakeEntryPoint("half", half_then_fail, "silik-half"),
        FakeEntryPoint("clash", steal_ls, "silik-clash"),
        FakeEntryPoint("odd", 42, "silik-odd"),
        FakeEntryPoint("wave", register_wave, "silik-wave"),
    ]
    registry = load_plugins(BUILTIN_COMMANDS, plugins)
    assert set(registry.names()) == set(BUILTIN_COMMANDS.names()) | {"wave"}
    assert registry.get("ls") is BUILTIN_COMMANDS.get("ls")
    assert registry.problems == [
        "plugin silik-boom (boom = fake_boom:commands): ImportError: No module named 'numpy'",
        "plugin silik-half (half = fake_half:commands): RuntimeError: config missing",
        "plugin silik-clash (clash = fake_clash:commands): "
        "ValueError: silik command 'ls' is declared twice",
        "plugin silik-odd (odd = fake_odd:commands): "
        "TypeError: fake_odd:commands is a int; it must be a CommandRegistry or a function taking one",
    ]
    overview = registry.overview()
    assert "Not loaded:\n  plugin silik-boom (boom = fake_boom:commands): ImportError" in overview


# -- real kernels -----------------------------------------------------------------
HELLO_KERNEL = """
from silik_kernel.api import Arg, Context, Output, SilikKernel, launch


class HelloKernel(SilikKernel):
    implementation = "hello-silik"


@HelloKernel.commands.command(
    "hello",
    "Greet someone, and count the kernels.",
    args=[Arg("who", "whom to greet")],
    examples=["hello world"],
)
async def hello(ctx: Context, values: dict) -> Output:
    count = len(ctx.manager.tree.root.kernels())
    return Output(f"hello {values['who']}; {count} kernel(s) here")


if __name__ == "__main__":
    launch(HelloKernel)
"""


@pytest.fixture
def hello_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A SilikKernel subclass with its own kernelspec, found through JUPYTER_PATH."""
    script = tmp_path / "hello_kernel.py"
    script.write_text(HELLO_KERNEL)
    spec_dir = tmp_path / "kernels" / "hello_silik"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, str(script), "-f", "{connection_file}"],
        "display_name": "Hello silik",
        "language": "silik",
        "interrupt_mode": "message",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    driver = KernelDriver("hello_silik")
    try:
        yield driver
    finally:
        driver.shutdown()


def test_a_kernel_subclass_with_a_command_of_its_own(hello_kernel: KernelDriver) -> None:
    info = hello_kernel.request("kernel_info")["content"]
    assert info["implementation"] == "hello-silik"
    assert hello_kernel.ok("hello world").stdout == "hello world; 0 kernel(s) here\n"
    overview = hello_kernel.ok("help").stdout
    assert "Commands:\n  hello  Greet someone, and count the kernels.\n" in overview
    assert "usage: hello WHO" in hello_kernel.ok("hello --help").stdout
    matches = hello_kernel.request("complete", "hel", 3)["content"]["matches"]
    assert matches == ["hello", "help"]
    assert hello_kernel.ok("pwd").stdout == "~\n"  # the built-ins are all there


@pytest.fixture(scope="session")
def timeit_plugin() -> None:
    """`pip install examples/plugins/silik_timeit` into the test environment.

    With hatchling at hand it builds without an isolated environment (faster,
    works offline); otherwise pip fetches hatchling as usual.
    """
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", "--quiet"]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"}
    done = subprocess.run(
        [*cmd, str(TIMEIT_PLUGIN)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, f"installing the example plugin failed:\n{done.stderr}"


def test_the_example_plugin_installed_with_pip(timeit_plugin: None, silik: KernelDriver) -> None:
    overview = silik.ok("help").stdout
    assert "silik-timeit (plugin):\n  timeit  Time the same code on several kernels" in overview
    assert "usage: timeit CODE PATHS... [-n N] [-s]" in silik.ok("help timeit").stdout
    assert silik.request("complete", "tim", 3)["content"]["matches"] == ["timeit"]
    silik.ok("new python3 -l a b", timeout=60)
    reply = silik.request("complete", "timeit -n 3 'x = 1' ", 20)["content"]
    assert reply["matches"] == ["a.py", "b.py"]

    res = silik.ok("timeit -n 3 'x = 1' ~/*.py")
    (table,) = res.of_type("display_data")
    lines = table["content"]["data"]["text/plain"].splitlines()
    assert lines[0].split() == ["kernel", "runs", "best", "median", "worst", "vs", "fastest"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["~/a.py", "~/b.py"]
    assert all(line.split()[1] == "3" for line in lines[1:])
    assert lines[1].endswith("1.00x")  # the fastest first
    assert "<table>" in table["content"]["data"]["text/html"]

    res = silik.fails("timeit -s 'x = 1 / (me := 0)' a.py b.py")
    assert res.content["evalue"] == "timeit: the code failed on ~/a.py, ~/b.py"
    assert "ZeroDivisionError: division by zero" in res.text


BROKEN_PLUGINS = {
    "silik_boom_plugin.py": "raise RuntimeError('this plugin is broken on purpose')\n",
    "silik_clash_plugin.py": """
        from silik_kernel.api import CommandRegistry

        def register(registry: CommandRegistry) -> None:
            @registry.command("ls", "Not the real ls.")
            async def ls(ctx, values):
                return "fake ls"
    """,
    "silik_fine_plugin.py": """
        from silik_kernel.api import Arg, CommandRegistry

        commands = CommandRegistry()

        @commands.command("shout", "Shout a word.", args=[Arg("word", "the word")])
        async def shout(ctx, values):
            return values["word"].upper() + "!"
    """,
}
BROKEN_ENTRY_POINTS = """
[silik.commands]
boom = silik_boom_plugin:commands
clash = silik_clash_plugin:register
fine = silik_fine_plugin:commands
"""


@pytest.fixture
def silik_with_broken_plugins(tmp_path: Path):
    """A silik whose PYTHONPATH holds a distribution with three plugins, two of them broken."""
    for name, code in BROKEN_PLUGINS.items():
        (tmp_path / name).write_text(textwrap.dedent(code))
    dist_info = tmp_path / "silik_mixed-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: silik-mixed\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(BROKEN_ENTRY_POINTS)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    driver = KernelDriver("silik", env={**os.environ, "PYTHONPATH": path})
    try:
        yield driver
    finally:
        driver.shutdown()


def test_a_broken_plugin_is_reported_once_and_silik_works(
    silik_with_broken_plugins: KernelDriver,
) -> None:
    silik = silik_with_broken_plugins
    first = silik.ok("pwd")
    assert first.stdout == "~\n"
    assert first.stderr.startswith("warning: some silik plugins were not loaded:\n")
    assert (
        "plugin silik-mixed (boom = silik_boom_plugin:commands): "
        "RuntimeError: this plugin is broken on purpose" in first.stderr
    )
    assert (
        "plugin silik-mixed (clash = silik_clash_plugin:register): "
        "ValueError: silik command 'ls' is declared twice" in first.stderr
    )
    assert first.stderr.count("plugin silik-mixed") == 2
    assert silik.ok("pwd").stderr == ""  # once

    assert silik.ok("shout hey").stdout == "HEY!\n"  # the good plugin of the same package
    assert silik.ok("ls").stdout == "~ is empty\n"  # the real ls
    overview = silik.ok("help").stdout
    assert "silik-mixed (plugin):\n  shout  Shout a word.\n" in overview
    assert "Not loaded:\n  plugin silik-mixed (boom = silik_boom_plugin:commands)" in overview
