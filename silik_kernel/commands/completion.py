"""TAB completion: which argument or option the word being typed fills, and its values.

:meth:`CommandRegistry.complete` completes a whole line with these: command
names and flags are the registry's own; a value is completed by the kind its
declaration gives it (kernels and folders of the silik tree, files on disk,
kernelspec names), or by the declaration's own completer.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from silik_kernel.commands.declaration import Arg, Command, Opt
from silik_kernel.errors import SilikError
from silik_kernel.tree import Folder, Tree

if TYPE_CHECKING:
    from silik_kernel.manager import SilikManager


def complete_value(manager: SilikManager, kind: str, typed: str) -> list[str]:
    """Values of ``kind`` that start with ``typed``; none for kinds typed freely (text, code, int).

    The ``command`` kind is the registry's own: :meth:`CommandRegistry.complete` lists it.
    """
    if kind == "kernelspec":
        return [s.name for s in manager.kernelspecs() if s.name.startswith(typed)]
    if kind in ("path", "kernel", "folder"):
        return complete_tree_path(manager.tree, kind, typed)
    if kind == "file":
        return complete_file(typed)
    return []


def complete_tree_path(tree: Tree, kind: str, typed: str) -> list[str]:
    """Children of the folder ``typed`` is in; folders end with ``/`` so TAB goes on into them.

    ``kind="folder"`` lists only folders; ``path`` and ``kernel`` list both, since
    a kernel is reached through its folders.
    """
    if typed == "~":
        return ["~/"]
    head, _, stem = typed.rpartition("/")
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


def complete_file(typed: str) -> list[str]:
    """Files and directories on disk (``~`` expanded); hidden ones once ``typed`` starts with a dot."""
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


def declaration_at(cmd: Command, before: list[str]) -> Arg | Opt | None:
    """The argument or option that takes the word after ``before`` (the words after the name)."""
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
    for idx, a in enumerate(cmd.args):
        if a.nargs in "+*" or idx == positional:
            return a
    return None
