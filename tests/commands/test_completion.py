"""completion.py on its own: values by kind, tree paths, files, and which
declaration takes the word being typed. Pure: no kernel starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from silik_kernel.commands.completion import (
    complete_file,
    complete_tree_path,
    complete_value,
    declaration_at,
)
from silik_kernel.commands.declaration import Arg, Command, Opt
from silik_kernel.manager import SilikManager
from silik_kernel.tree import Tree


@pytest.fixture
def tree() -> Tree:
    """~/a/b/, ~/a/r1.r, ~/d/, ~/k1.py"""
    t = Tree()
    t.mkdir("a/b", parents=True)
    t.mkdir("d")
    t.add_kernel(t.root, "k1", ".py", "id-k1")
    t.add_kernel(t.folder("a"), "r1", ".r", "id-r1")
    return t


@pytest.mark.parametrize(
    ("kind", "typed", "expected"),
    [
        ("path", "", ["a/", "d/", "k1.py"]),
        ("kernel", "", ["a/", "d/", "k1.py"]),  # folders too: kernels are reached through them
        ("folder", "", ["a/", "d/"]),
        ("path", "a/", ["a/b/", "a/r1.r"]),
        ("folder", "a/", ["a/b/"]),
        ("kernel", "~/a/r", ["~/a/r1.r"]),
        ("path", "~", ["~/"]),
        ("path", ".", ["../"]),
        ("path", "a/..", ["a/../"]),
        ("path", "nope/", []),
        ("path", "k1.py/", []),  # a kernel holds nothing
        ("path", "x", []),
    ],
)
def test_complete_tree_path(tree: Tree, kind: str, typed: str, expected: list[str]) -> None:
    assert complete_tree_path(tree, kind, typed) == expected


def test_complete_tree_path_from_the_current_folder(tree: Tree) -> None:
    tree.cd("a")
    assert complete_tree_path(tree, "path", "") == ["b/", "r1.r"]
    assert complete_tree_path(tree, "folder", "../") == ["../a/", "../d/"]


def test_complete_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "setup.silik").write_text("")
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.silik").write_text("")
    monkeypatch.chdir(tmp_path)
    assert complete_file("") == ["setup.silik", "sub/"]
    assert complete_file(".") == [".hidden"]
    assert complete_file("sub/") == ["sub/inner.silik"]
    assert complete_file(f"{tmp_path}/se") == [f"{tmp_path}/setup.silik"]
    assert complete_file("nope/") == []
    monkeypatch.setenv("HOME", str(tmp_path))
    assert complete_file("~/su") == ["~/sub/"]


def test_complete_value_by_kind() -> None:
    manager = SilikManager()
    manager.tree.mkdir("a")
    manager.tree.add_kernel(manager.tree.root, "k1", ".py", "id-k1")
    assert complete_value(manager, "folder", "") == ["a/"]
    assert complete_value(manager, "kernel", "k") == ["k1.py"]
    assert "python3" in complete_value(manager, "kernelspec", "py")
    for free in ("text", "code", "int", "command"):  # `command`: the registry lists its names
        assert complete_value(manager, free, "") == []


async def _handler(ctx: object, values: dict[str, object]) -> None:
    return None


DEMO = Command(
    "demo",
    "Demo.",
    _handler,
    args=[Arg("code", "code", kind="code"), Arg("paths", "kernels", kind="kernel", nargs="+")],
    options=[
        Opt(("-l", "--label"), "labels", "labels", "L", many=True),
        Opt(("-n",), "n", "a number", "N", kind="int"),
        Opt(("-f",), "force", "a flag"),
    ],
)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ([], "code"),
        (["x"], "paths"),
        (["x", "k1.py", "k2.py"], "paths"),  # the variadic argument takes every later word
        (["-n"], "n"),
        (["-n", "3"], "code"),  # -n takes one value
        (["-l"], "labels"),
        (["-l", "a", "b"], "labels"),  # -l takes several
        (["-f"], "code"),  # a flag takes no value
        (["-f", "x"], "paths"),
        (["--", "-n"], "paths"),  # after --, -n is the code
        (["-x"], "paths"),  # an unknown option counts as a word
    ],
)
def test_declaration_at(before: list[str], expected: str) -> None:
    decl = declaration_at(DEMO, before)
    assert decl is not None
    assert (decl.name if isinstance(decl, Arg) else decl.dest) == expected


def test_no_declaration_after_the_last_argument() -> None:
    one = Command("one", "One.", _handler, args=[Arg("path", "a kernel", kind="kernel")])
    assert declaration_at(one, ["k1.py"]) is None
    assert declaration_at(Command("none", "None.", _handler), []) is None
