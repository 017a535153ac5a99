"""The tree's limits: label length, path length and depth; walks that do not recurse.

Pure data: no kernel starts.
"""

from __future__ import annotations

import pytest

from silik_kernel.errors import SilikError
from silik_kernel.tree import (
    MAX_DEPTH,
    MAX_LABEL_LENGTH,
    MAX_PATH_LENGTH,
    Folder,
    KernelEntry,
    Tree,
    check_label,
)
from silik_kernel.tree_drawing import render_tree


def error(fn, *args, **kw) -> SilikError:
    with pytest.raises(SilikError) as info:
        fn(*args, **kw)
    return info.value


def deep_chain(levels: int) -> tuple[Tree, Folder]:
    """A tree with ``levels`` nested folders built by hand, past every check (as a
    plugin or an older silik could have made it): what walks must survive."""
    t = Tree()
    folder = t.root
    for _ in range(levels):
        child = Folder("d")
        folder.add(child)
        folder = child
    return t, folder


def test_a_label_at_the_limit_is_accepted_one_more_is_refused() -> None:
    check_label("a" * MAX_LABEL_LENGTH)
    exc = error(check_label, "a" * (MAX_LABEL_LENGTH + 1))
    assert f"at most {MAX_LABEL_LENGTH}" in exc.message
    assert "a" * 100 not in exc.message  # the message does not repeat a huge name


def test_a_huge_name_is_refused_by_mkdir_add_kernel_and_move() -> None:
    t = Tree()
    t.mkdir("w")
    t.add_kernel(t.root, "k", ".py", "id-k")
    name = "x" * 20_000_000
    assert "too long" in error(t.mkdir, name).message
    assert "too long" in error(t.add_kernel, t.root, name, ".py", "id").message
    assert "too long" in error(t.move, "k.py", "y" * (MAX_LABEL_LENGTH + 1)).message
    assert sorted(t.root.children) == ["k.py", "w"]


def test_mkdir_p_past_the_depth_limit_is_refused_and_creates_nothing() -> None:
    t = Tree()
    exc = error(t.mkdir, "/".join(["d"] * 1000), parents=True)
    assert f"{MAX_DEPTH}" in exc.message and "deep" in exc.message
    assert t.root.children == {}
    t.mkdir("/".join(["d"] * MAX_DEPTH), parents=True)  # the limit itself is fine
    t.cd("/".join(["d"] * MAX_DEPTH))
    assert "deep" in error(t.mkdir, "one-more").message


def test_a_path_past_the_length_limit_is_refused_everywhere() -> None:
    t = Tree()
    long_path = "/".join(["abcdefgh"] * (MAX_PATH_LENGTH // 9 + 1))
    for fn in (t.resolve, t.glob, t.folder, t.kernel, t.cd):
        exc = error(fn, long_path)
        assert f"at most {MAX_PATH_LENGTH}" in exc.message, fn
    assert "long" in error(t.mkdir, long_path, parents=True).message
    assert t.root.children == {}


def test_mkdir_refuses_a_folder_whose_full_path_would_be_too_long() -> None:
    t = Tree()
    part = "p" * 200
    t.mkdir("/".join([part] * 15), parents=True)  # ~3000 characters
    t.cd("/".join([part] * 15))
    assert "long" in error(t.mkdir, "/".join([part] * 6), parents=True).message


def test_move_refuses_to_nest_past_the_depth_limit() -> None:
    t = Tree()
    half = MAX_DEPTH // 2 + 1
    t.mkdir("a/" + "/".join(["d"] * half), parents=True)
    t.mkdir("b/" + "/".join(["d"] * half), parents=True)
    deep_b = "b/" + "/".join(["d"] * half)
    exc = error(t.move, "a", deep_b)
    assert "deep" in exc.message
    assert "a" in t.root.children  # nothing moved


def test_walks_paths_and_drawings_of_a_very_deep_tree_do_not_recurse() -> None:
    t, bottom = deep_chain(5000)
    bottom.add(KernelEntry("k.py", "id-k"))
    assert bottom.path.count("/") == 5000
    assert len(list(t.root.walk())) == 5001
    assert [k.kernel_id for k in t.root.kernels()] == ["id-k"]
    drawing = render_tree(t.root)
    assert drawing.count("\n") == 5001 and drawing.endswith("╰─ k.py")
    t.cd("/".join(["d"] * 10))
    t.remove(t.root.children["d"])  # rm -r from the top, with the cwd inside
    assert t.cwd is t.root and t.root.children == {}
