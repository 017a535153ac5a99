"""The folder tree: paths, folders and kernel entries. Pure data, no kernel starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from silik_kernel.errors import SilikError
from silik_kernel.tree import (
    Folder,
    KernelEntry,
    Tree,
    check_label,
    extension_for_language,
    sorted_children,
)
from silik_kernel.tree_drawing import render_tree


@pytest.fixture
def tree() -> Tree:
    """~/a/b/, ~/a/r1.r, ~/d/, ~/k1.py, ~/k2.py"""
    t = Tree()
    t.mkdir("a/b", parents=True)
    t.mkdir("d")
    t.add_kernel(t.root, "k1", ".py", "id-k1")
    t.add_kernel(t.root, "k2", ".py", "id-k2")
    t.add_kernel(t.folder("a"), "r1", ".r", "id-r1")
    return t


def error(fn: Callable[..., Any], *args: Any, **kw: Any) -> SilikError:
    with pytest.raises(SilikError) as info:
        fn(*args, **kw)
    return info.value


def snapshot(t: Tree) -> str:
    return render_tree(t.root, describe=lambda e: e.kernel_id) + f"\ncwd={t.cwd.path}"


# -- paths ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("~", "~"),
        ("~/", "~"),
        (".", "~"),
        ("..", "~"),  # ~ has no parent: .. stays at ~
        ("", "~"),
        ("k1.py", "~/k1.py"),
        ("~/a/r1.r", "~/a/r1.r"),
        ("./a/r1.r", "~/a/r1.r"),
        ("a/b/", "~/a/b"),
        ("a//b", "~/a/b"),
        ("a/./b/..", "~/a"),
        ("~/a/b/../../k2.py", "~/k2.py"),
    ],
)
def test_resolve_from_root(tree: Tree, path: str, expected: str) -> None:
    assert tree.resolve(path).path == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".", "~/a/b"),
        ("", "~/a/b"),
        ("..", "~/a"),
        ("../r1.r", "~/a/r1.r"),
        ("../../k1.py", "~/k1.py"),
        ("../../../../d/", "~/d"),
        ("~/k1.py", "~/k1.py"),
        ("~", "~"),
    ],
)
def test_resolve_relative_to_cwd(tree: Tree, path: str, expected: str) -> None:
    tree.cd("a/b")
    assert tree.resolve(path).path == expected


def test_resolve_from_an_explicit_base(tree: Tree) -> None:
    assert tree.resolve("r1.r", base=tree.folder("a")).path == "~/a/r1.r"
    assert tree.resolve("~/k1.py", base=tree.folder("a")).path == "~/k1.py"


def test_resolve_returns_the_nodes_themselves(tree: Tree) -> None:
    node = tree.resolve("a/r1.r")
    assert isinstance(node, KernelEntry)
    assert node.kernel_id == "id-r1"
    assert node.parent is tree.resolve("a")
    assert isinstance(tree.resolve("~"), Folder) and tree.resolve("~") is tree.root


@pytest.mark.parametrize(
    ("path", "message", "hint"),
    [
        ("/a", "'/a' is not a silik path", "absolute paths start with '~', e.g. ~/a/k1.py"),
        ("zzz", "no such kernel or folder: zzz", "~ contains: a, d, k1.py, k2.py"),
        (
            "k1",
            "no such kernel or folder: k1",
            "did you mean ~/k1.py? (kernel names include the extension)",
        ),
        ("a/r2.r", "no such kernel or folder: a/r2.r", "did you mean ~/a/r1.r?"),
        ("~/a/b/nothing", "no such kernel or folder: ~/a/b/nothing", "~/a/b is empty; see `tree`"),
        ("a/zzz/k1.py", "no such kernel or folder: a/zzz/k1.py", "~/a contains: b, r1.r"),
        ("k1.py/x", "~/k1.py is a kernel, not a folder", None),
        ("k1.py/..", "~/k1.py is a kernel, not a folder", None),
    ],
)
def test_resolve_errors_say_what_is_wrong(
    tree: Tree, path: str, message: str, hint: str | None
) -> None:
    err = error(tree.resolve, path)
    assert err.message == message
    assert err.hint == hint


def test_folder_and_kernel_check_the_kind(tree: Tree) -> None:
    assert tree.folder("a").path == "~/a"
    assert tree.kernel("a/r1.r").path == "~/a/r1.r"
    err = error(tree.folder, "k1.py")
    assert err.message == "~/k1.py is a kernel, not a folder"
    assert err.hint == "connect to it with `> k1.py`, or name a folder"
    err = error(tree.kernel, "a/")
    assert err.message == "~/a is a folder, not a kernel"
    assert err.hint == "list its kernels with `ls a/`"


# -- labels -----------------------------------------------------------------------
@pytest.mark.parametrize("label", ["k1", "K_1", "_x", "c++", "a-b", "v1.2", "9lives"])
def test_valid_labels(label: str) -> None:
    check_label(label)


@pytest.mark.parametrize("label", ["", ".", "..", "a b", "a/b", "-x", "+x", ".hidden", "~", "é"])
def test_invalid_labels(label: str) -> None:
    err = error(check_label, label)
    assert err.message == f"invalid name {label!r}"
    assert "letters, digits" in (err.hint or "")


@pytest.mark.parametrize(
    ("language", "ext"),
    [
        ("python", ".py"),
        ("Python", ".py"),
        ("R", ".r"),
        ("C++", ".cpp"),
        ("silik", ".silik"),
        ("Wolfram Language", ".wolframlanguage"),
        ("", ".kernel"),
    ],
)
def test_extension_for_language(language: str, ext: str) -> None:
    assert extension_for_language(language) == ext


# -- mkdir ------------------------------------------------------------------------
def test_mkdir_creates_one_folder(tree: Tree) -> None:
    made = tree.mkdir("e")
    assert made.path == "~/e"
    assert tree.root.children["e"] is made
    assert made.children == {}


def test_mkdir_is_relative_to_cwd(tree: Tree) -> None:
    tree.cd("a")
    assert tree.mkdir("n").path == "~/a/n"
    assert tree.mkdir("~/top").path == "~/top"
    assert tree.mkdir("../d/sub").path == "~/d/sub"


def test_mkdir_of_an_existing_folder_needs_p(tree: Tree) -> None:
    err = error(tree.mkdir, "a")
    assert err.message == "folder ~/a already exists"
    assert err.hint == "use `mkdir -p` to accept existing folders"
    assert tree.mkdir("a", parents=True) is tree.folder("a")
    assert tree.mkdir("a/b/", parents=True) is tree.folder("a/b")


def test_mkdir_without_p_needs_existing_parents(tree: Tree) -> None:
    before = snapshot(tree)
    err = error(tree.mkdir, "x/y/z")
    assert err.message == "no such folder: ~/x"
    assert err.hint == "use `mkdir -p x/y/z` to create missing parents"
    assert snapshot(tree) == before


def test_mkdir_p_creates_every_missing_parent(tree: Tree) -> None:
    z = tree.mkdir("~/a/x/y/z", parents=True)
    assert z.path == "~/a/x/y/z"
    assert tree.folder("a/x/y") is z.parent
    assert tree.folder("a/b").parent is tree.folder("a")  # the existing ones are kept


def test_mkdir_p_follows_dots_through_existing_folders(tree: Tree) -> None:
    assert tree.mkdir("a/b/../c", parents=True).path == "~/a/c"
    assert tree.mkdir("./a/./e", parents=True).path == "~/a/e"
    assert tree.mkdir(".", parents=True) is tree.root


@pytest.mark.parametrize("path", ["~", "~/", "a/..", "."])
def test_mkdir_of_an_existing_place_without_p(tree: Tree, path: str) -> None:
    before = snapshot(tree)
    assert error(tree.mkdir, path).message == "~ already exists"
    assert snapshot(tree) == before


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("new1/bad name/c", "invalid name 'bad name'"),
        ("new1/new2/.hidden", "invalid name '.hidden'"),
        ("new1/~/c", "invalid name '~'"),
        ("new1/../c", "'new1/../c': '..' after a missing folder"),
        ("new1/./c", "'new1/./c': '.' after a missing folder"),
        ("k1.py/new1", "~/k1.py is a kernel, not a folder"),
        ("a/r1.r", "~/a/r1.r is a kernel, not a folder"),
        ("/new1/new2", "'/new1/new2' is not a silik path"),
    ],
)
def test_failing_mkdir_p_creates_nothing(tree: Tree, path: str, message: str) -> None:
    before = snapshot(tree)
    assert error(tree.mkdir, path, parents=True).message == message
    assert snapshot(tree) == before
    assert "new1" not in tree.root.children


# -- cd ---------------------------------------------------------------------------
def test_cd_moves_and_bare_cd_goes_home(tree: Tree) -> None:
    assert tree.cd("a/b") is tree.folder("~/a/b")
    assert tree.cwd.path == "~/a/b"
    assert tree.cd("..").path == "~/a"
    assert tree.cd(None) is tree.root
    tree.cd("a")
    assert tree.cd("") is tree.root
    tree.cd("a/b/")
    assert tree.cd("~").path == "~"


def test_cd_into_a_kernel_is_refused_with_a_hint(tree: Tree) -> None:
    tree.cd("a")
    err = error(tree.cd, "r1.r")
    assert err.message == "cannot cd into ~/a/r1.r: it is a kernel"
    assert err.hint == "connect to it with `> r1.r`"
    assert tree.cwd.path == "~/a"


def test_cd_to_a_missing_folder_stays_put(tree: Tree) -> None:
    tree.cd("a")
    err = error(tree.cd, "nope")
    assert err.message == "no such kernel or folder: nope"
    assert tree.cwd.path == "~/a"


# -- kernels ----------------------------------------------------------------------
def test_add_kernel_names_it_label_plus_extension(tree: Tree) -> None:
    entry = tree.add_kernel(tree.folder("d"), "cook", ".txt", "id-cook")
    assert entry.name == "cook.txt"
    assert entry.path == "~/d/cook.txt"
    assert entry.kernel_id == "id-cook"
    assert tree.kernel("~/d/cook.txt") is entry


def test_add_kernel_refuses_a_taken_name(tree: Tree) -> None:
    before = snapshot(tree)
    err = error(tree.add_kernel, tree.root, "k1", ".py", "id-other")
    assert err.message == "~/k1.py already exists (a kernel)"
    assert err.hint == "choose another name, or remove the existing one with rm"
    assert snapshot(tree) == before
    assert tree.kernel("k1.py").kernel_id == "id-k1"


def test_add_kernel_refuses_the_name_of_a_folder(tree: Tree) -> None:
    tree.mkdir("x.py")
    err = error(tree.add_kernel, tree.root, "x", ".py", "id-x")
    assert err.message == "~/x.py already exists (a folder)"


def test_same_label_with_another_extension_is_another_name(tree: Tree) -> None:
    assert tree.add_kernel(tree.root, "k1", ".r", "id-k1r").path == "~/k1.r"


def test_add_kernel_refuses_bad_labels(tree: Tree) -> None:
    before = snapshot(tree)
    assert error(tree.add_kernel, tree.root, "a/b", ".py", "x").message == "invalid name 'a/b'"
    assert snapshot(tree) == before


def test_kernels_lists_every_kernel_below_in_display_order(tree: Tree) -> None:
    assert [k.path for k in tree.root.kernels()] == ["~/a/r1.r", "~/k1.py", "~/k2.py"]
    assert [k.path for k in tree.folder("a").kernels()] == ["~/a/r1.r"]
    assert [n.path for n in tree.root.walk()] == [
        "~/a",
        "~/a/b",
        "~/a/r1.r",
        "~/d",
        "~/k1.py",
        "~/k2.py",
    ]


def test_sorted_children_folders_first_then_case_insensitive() -> None:
    t = Tree()
    for label in ("b2", "B1", "a3"):
        t.add_kernel(t.root, label, ".py", label)
    t.mkdir("zeta")
    t.mkdir("Alpha")
    assert [n.name for n in sorted_children(t.root)] == ["Alpha", "zeta", "a3.py", "B1.py", "b2.py"]


# -- remove -----------------------------------------------------------------------
def test_remove_a_kernel(tree: Tree) -> None:
    entry = tree.kernel("k1.py")
    tree.remove(entry)
    assert "k1.py" not in tree.root.children
    assert entry.parent is None
    assert error(tree.resolve, "k1.py").message == "no such kernel or folder: k1.py"


def test_removing_the_folder_you_are_in_moves_you_to_its_parent(tree: Tree) -> None:
    tree.cd("a/b")
    tree.remove(tree.folder("~/a"))
    assert tree.cwd is tree.root
    assert sorted(tree.root.children) == ["d", "k1.py", "k2.py"]


def test_removing_another_folder_keeps_cwd(tree: Tree) -> None:
    tree.cd("a")
    tree.remove(tree.folder("~/d"))
    assert tree.cwd.path == "~/a"


def test_root_cannot_be_removed(tree: Tree) -> None:
    assert error(tree.remove, tree.root).message == "cannot remove ~"


# -- move and rename --------------------------------------------------------------
def test_rename_a_kernel_keeps_its_extension(tree: Tree) -> None:
    entry = tree.kernel("k1.py")
    assert tree.move("k1.py", "cook") is entry
    assert entry.path == "~/cook.py"
    assert entry.kernel_id == "id-k1"
    assert "k1.py" not in tree.root.children
    assert tree.move("cook.py", "chef.py").path == "~/chef.py"  # not chef.py.py
    assert tree.move("a/r1.r", "a/stats").path == "~/a/stats.r"


def test_move_a_kernel_into_a_folder(tree: Tree) -> None:
    assert tree.move("k1.py", "a").path == "~/a/k1.py"
    assert tree.move("k2.py", "a/b/").path == "~/a/b/k2.py"
    assert tree.move("~/a/r1.r", "~").path == "~/r1.r"
    assert sorted(tree.root.children) == ["a", "d", "r1.r"]


def test_move_and_rename_at_once(tree: Tree) -> None:
    assert tree.move("k1.py", "a/b/cook").path == "~/a/b/cook.py"
    tree.cd("a/b")
    assert tree.move("cook.py", "../../d/chef").path == "~/d/chef.py"


def test_rename_a_folder_moves_what_it_holds(tree: Tree) -> None:
    folder = tree.folder("a")
    assert tree.move("a", "z") is folder
    assert folder.path == "~/z"
    assert tree.kernel("z/r1.r").path == "~/z/r1.r"
    assert tree.move("z", "d").path == "~/d/z"
    assert tree.kernel("~/d/z/r1.r").kernel_id == "id-r1"


def test_cwd_follows_a_moved_folder(tree: Tree) -> None:
    tree.cd("a/b")
    tree.move("~/a", "~/d")
    assert tree.cwd.path == "~/d/a/b"


@pytest.mark.parametrize("dst", ["a", "a/", "a/b", "a/b/new", "."])
def test_a_folder_cannot_move_into_itself(tree: Tree, dst: str) -> None:
    if dst == ".":
        tree.cd("a/b")
    before = snapshot(tree)
    assert error(tree.move, "~/a", dst).message == "cannot move ~/a into itself"
    assert snapshot(tree) == before


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("k1.py", "k2", "~/k2.py already exists"),
        ("k1.py", "k2.py", "~/k2.py already exists"),
        ("a/r1.r", "~/k1.py", "~/k1.py already exists"),
        ("a/b", "~/d/..", "~/b already exists"),
    ],
)
def test_move_refuses_name_clashes(tree: Tree, src: str, dst: str, message: str) -> None:
    tree.mkdir("b")
    before = snapshot(tree)
    err = error(tree.move, src, dst)
    assert err.message == message
    assert err.hint == "rm it first or pick another name"
    assert snapshot(tree) == before


def test_move_into_a_folder_that_has_the_name_already(tree: Tree) -> None:
    tree.add_kernel(tree.folder("d"), "k1", ".py", "id-d-k1")
    before = snapshot(tree)
    assert error(tree.move, "k1.py", "d").message == "~/d/k1.py already exists"
    assert snapshot(tree) == before


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("~", "d", "cannot move ~"),
        ("nope.py", "d", "no such kernel or folder: nope.py"),
        ("k1.py", "nope/x", "no such kernel or folder: nope"),
        ("k1.py", "nope/", "no such kernel or folder: nope/"),  # never renames to nope.py
        ("k1.py", "/x", "'/x' is not a silik path"),
        ("k1.py", "bad name", "invalid name 'bad name'"),
        ("d", "bad name", "invalid name 'bad name'"),
    ],
)
def test_move_errors_change_nothing(tree: Tree, src: str, dst: str, message: str) -> None:
    before = snapshot(tree)
    assert error(tree.move, src, dst).message == message
    assert snapshot(tree) == before


def test_move_onto_itself_changes_nothing(tree: Tree) -> None:
    before = snapshot(tree)
    assert tree.move("d", ".").path == "~/d"
    assert snapshot(tree) == before


# -- unique labels ----------------------------------------------------------------
def test_unique_label_counts_up_past_taken_names(tree: Tree) -> None:
    assert tree.unique_label(tree.folder("d"), "py", ".py", set()) == "py1"
    assert tree.unique_label(tree.root, "k", ".py", set()) == "k3"
    assert tree.unique_label(tree.root, "k", ".py", {"k3", "k4"}) == "k5"
    assert tree.unique_label(tree.root, "k", ".r", set()) == "k1"  # k1.r is free


# -- rendering --------------------------------------------------------------------
def test_render_tree_draws_branches(tree: Tree) -> None:
    tree.mkdir("d/e/f", parents=True)
    tree.add_kernel(tree.folder("d/e"), "z1", ".jl", "id-z1")
    assert render_tree(tree.root) == "\n".join(
        [
            "~",
            "├─ a/",
            "│  ├─ b/",
            "│  ╰─ r1.r",
            "├─ d/",
            "│  ╰─ e/",
            "│     ├─ f/",
            "│     ╰─ z1.jl",
            "├─ k1.py",
            "╰─ k2.py",
        ]
    )


def test_render_tree_of_a_subfolder_with_notes_and_marks(tree: Tree) -> None:
    tree.add_kernel(tree.folder("a"), "quiet", ".py", "")
    text = render_tree(
        tree.folder("a"),
        describe=lambda e: f"[{e.kernel_id}]" if e.kernel_id else "",
        mark=lambda n: n.name == "b",
    )
    assert text == "\n".join(
        [
            "~/a/",
            "├─ b/  <- here",
            "├─ quiet.py",
            "╰─ r1.r  [id-r1]",
        ]
    )


def test_render_an_empty_tree() -> None:
    assert render_tree(Tree().root) == "~"


# -- globs ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", ["~/a", "~/d", "~/k1.py", "~/k2.py"]),  # display order: folders first
        ("~/k*.py", ["~/k1.py", "~/k2.py"]),
        ("k?.py", ["~/k1.py", "~/k2.py"]),
        ("k[2-9].py", ["~/k2.py"]),
        ("k[!1].py", ["~/k2.py"]),
        ("*/*", ["~/a/b", "~/a/r1.r"]),  # d is empty; kernels have no children
        ("~/a/*.r", ["~/a/r1.r"]),
        ("*/..", ["~"]),  # reached from a and from d: listed once
        ("./k1*", ["~/k1.py"]),
        ("K*", None),  # case-sensitive, like the names
        ("~/d/*", None),
    ],
)
def test_glob_matches_each_part_by_name(
    tree: Tree, pattern: str, expected: list[str] | None
) -> None:
    if expected is None:
        assert error(tree.glob, pattern).message == f"nothing matches {pattern}"
    else:
        assert [n.path for n in tree.glob(pattern)] == expected


def test_glob_is_relative_to_cwd(tree: Tree) -> None:
    tree.cd("a")
    assert [n.path for n in tree.glob("*")] == ["~/a/b", "~/a/r1.r"]
    assert [n.path for n in tree.glob("../k*")] == ["~/k1.py", "~/k2.py"]


def test_glob_without_glob_characters_resolves_as_usual(tree: Tree) -> None:
    assert tree.glob("a/r1.r") == [tree.resolve("a/r1.r")]
    assert error(tree.glob, "k3.py").message == "no such kernel or folder: k3.py"


def test_glob_says_where_nothing_matched(tree: Tree) -> None:
    err = error(tree.glob, "~/nope/*")
    assert err.hint == "nothing in ~ matches 'nope'; see `tree`"
    err = error(tree.glob, "*/x*")
    assert err.hint == "nothing in ~/a, ~/d matches 'x*'; see `tree`"
    assert "not a silik path" in error(tree.glob, "/tmp/*").message
