"""`help`, `help CMD`, `CMD --help` and help.md all come from the command declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from silik_kernel.__main__ import main
from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Command
from silik_kernel.commands.runner import run_words
from silik_kernel.errors import SilikError

HELP_MD = Path(__file__).resolve().parents[2] / "help.md"
COMMANDS = list(BUILTIN_COMMANDS.commands.values())


class RecordingFrontend:
    """Just enough of the frontend for `run`: records what would be sent to a kernel."""

    connected_path: str | None = None

    def __init__(self) -> None:
        self.relayed: list[tuple[str, str]] = []

    async def relay(self, path: str, code: str) -> dict[str, Any]:
        self.relayed.append((path, code))
        return {"status": "ok"}


@pytest.fixture
def ctx() -> Context:
    # help needs only the registry; no manager, no kernel.
    return Context(manager=None, frontend=RecordingFrontend(), registry=BUILTIN_COMMANDS)  # type: ignore[arg-type]


async def text_of(ctx: Context, words: list[str]) -> str:
    out = await run_words(ctx, words)
    assert out is not None and out.html is None
    return out.text


def test_help_md_is_up_to_date() -> None:
    assert HELP_MD.read_text(encoding="utf-8") == BUILTIN_COMMANDS.markdown(), (
        "help.md is stale: run `python -m silik_kernel help-md > help.md`"
    )


def test_help_md_command_prints_the_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help-md"]) == 0
    assert capsys.readouterr().out == BUILTIN_COMMANDS.markdown()


def test_markdown_has_every_command_help_under_its_section() -> None:
    md = BUILTIN_COMMANDS.markdown()
    for section, cmds in BUILTIN_COMMANDS.sections().items():
        start = md.index(f"\n## {section}\n")
        for cmd in cmds:
            block = f"\n### `{cmd.name}`\n\n```\n{cmd.help()}\n```\n"
            assert md.index(block) > start, cmd.name


async def test_help_lists_every_command_with_its_summary(ctx: Context) -> None:
    text = await text_of(ctx, ["help"])
    assert text == BUILTIN_COMMANDS.overview()
    for cmd in COMMANDS:
        line = next(x for x in text.splitlines() if x.split()[:1] == [cmd.name])
        assert cmd.summary in line
        for alias in cmd.aliases:
            assert alias in line
    for section in ("Session:", "Kernels:", "Tree:"):
        assert section in text.splitlines()
    assert text.endswith("`help COMMAND` or `COMMAND --help` shows a command's arguments.")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
async def test_help_cmd_and_cmd_help_show_the_same_text(ctx: Context, cmd: Command) -> None:
    expected = cmd.help()
    assert await text_of(ctx, ["help", cmd.name]) == expected
    assert await text_of(ctx, [cmd.name, "--help"]) == expected
    assert await text_of(ctx, [cmd.name, "-h"]) == expected
    assert await text_of(ctx, [cmd.name, "some", "words", "--help"]) == expected
    for alias in cmd.aliases:
        assert await text_of(ctx, ["help", alias]) == expected
        assert await text_of(ctx, [alias, "--help"]) == expected


async def test_connect_shortcut_help(ctx: Context) -> None:
    assert await text_of(ctx, [">k1.py", "--help"]) == BUILTIN_COMMANDS.get("connect").help()


async def test_help_for_an_unknown_command_suggests_one(ctx: Context) -> None:
    with pytest.raises(SilikError) as info:
        await run_words(ctx, ["help", "mkdri"])
    assert info.value.message == "unknown command 'mkdri'"
    assert info.value.hint == "did you mean `mkdir`?"


async def test_help_after_double_dash_is_an_argument(ctx: Context) -> None:
    assert await run_words(ctx, ["run", "--", "--help", "k1.py"]) is None
    assert ctx.frontend.relayed == [("k1.py", "--help")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_help_shows_every_part_of_the_declaration(cmd: Command) -> None:
    text = cmd.help()
    lines = text.splitlines()
    assert lines[0] == f"usage: {cmd.usage}"
    assert lines[2] == cmd.summary
    if cmd.aliases:
        assert lines[3] == "alias: " + ", ".join(cmd.aliases)
    if cmd.details:
        assert f"\n\n{cmd.details}\n" in text + "\n"
    for a in cmd.args:
        assert any(x.split()[:1] == [a.name.upper()] and x.endswith(a.help) for x in lines), a.name
    for o in cmd.options:
        label = ", ".join(o.flags) + (f" {o.metavar}" if o.metavar else "")
        assert any(x.strip().startswith(label) and x.endswith(o.help) for x in lines), o.flags
    if cmd.examples:
        assert text.endswith("\n".join(["examples:"] + [f"  {e}" for e in cmd.examples]))


def test_help_layout() -> None:
    assert BUILTIN_COMMANDS.get("rm").help() == "\n".join(
        [
            "usage: rm PATH [-r]",
            "",
            "Remove a kernel (stopping it) or a folder (-r for a folder that is not empty).",
            "",
            "  PATH             what to remove",
            "  -r, --recursive  remove a folder with everything in it",
        ]
    )
