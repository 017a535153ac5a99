"""The virtual folder tree that holds sub-kernels.

Pure data and path logic: no I/O, no kernels. A path is a string such as
``~/agents/cook.py``, ``../k1.py``, ``.`` or ``a/b``; ``~`` is the root.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from silik_kernel.errors import SilikError

ROOT_NAME = "~"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")

# Language name (lower case) -> file extension, used when a kernelspec does not
# tell us better. Unknown languages use their own name.
LANGUAGE_EXTENSIONS: dict[str, str] = {
    "python": ".py",
    "silik": ".silik",
    "r": ".r",
    "julia": ".jl",
    "javascript": ".js",
    "typescript": ".ts",
    "bash": ".sh",
    "sh": ".sh",
    "c++": ".cpp",
    "c": ".c",
    "rust": ".rs",
    "go": ".go",
    "java": ".java",
    "scala": ".scala",
    "ruby": ".rb",
    "sql": ".sql",
    "markdown": ".md",
    "text": ".txt",  # agent kernels (silik_agents) chat in plain text
}


def extension_for_language(language: str) -> str:
    lang = (language or "").strip().lower()
    if lang in LANGUAGE_EXTENSIONS:
        return LANGUAGE_EXTENSIONS[lang]
    cleaned = re.sub(r"[^a-z0-9]+", "", lang)
    return "." + (cleaned or "kernel")


def check_label(label: str) -> None:
    """Refuse labels that would make ambiguous paths."""
    if not _NAME_RE.match(label) or label in (".", ".."):
        raise SilikError(
            f"invalid name {label!r}",
            hint="use letters, digits, '_', '-', '+' and '.', starting with a letter, digit or '_'",
        )


@dataclass(eq=False)
class KernelEntry:
    """A sub-kernel's place in the tree. ``kernel_id`` keys the manager's SubKernel."""

    name: str  # label + extension, e.g. "k1.py"
    kernel_id: str
    parent: Folder | None = None

    @property
    def path(self) -> str:
        assert self.parent is not None
        return join(self.parent.path, self.name)


@dataclass(eq=False)
class Folder:
    name: str
    parent: Folder | None = None
    children: dict[str, Folder | KernelEntry] = field(default_factory=dict)

    @property
    def path(self) -> str:
        if self.parent is None:
            return ROOT_NAME
        return join(self.parent.path, self.name)

    def add(self, node: Folder | KernelEntry) -> None:
        if node.name in self.children:
            kind = "folder" if isinstance(self.children[node.name], Folder) else "kernel"
            raise SilikError(
                f"{join(self.path, node.name)} already exists (a {kind})",
                hint="choose another name, or remove the existing one with rm",
            )
        node.parent = self
        self.children[node.name] = node

    def walk(self) -> Iterator[Folder | KernelEntry]:
        """Every descendant, depth first, in display order."""
        for child in sorted_children(self):
            yield child
            if isinstance(child, Folder):
                yield from child.walk()

    def kernels(self) -> list[KernelEntry]:
        return [n for n in self.walk() if isinstance(n, KernelEntry)]


def join(base: str, name: str) -> str:
    return f"{base}/{name}"


def sorted_children(folder: Folder) -> list[Folder | KernelEntry]:
    """Folders first, then kernels, each alphabetical."""
    return sorted(
        folder.children.values(),
        key=lambda n: (not isinstance(n, Folder), n.name.lower(), n.name),
    )


def is_pattern(path: str) -> bool:
    """Whether ``path`` has glob parts (labels cannot contain ``*?[``, so no escaping is needed)."""
    return any(c in path for c in "*?[")


def split_path(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("",)]


class Tree:
    """Folders and kernel entries with a current folder, like a tiny shell."""

    def __init__(self) -> None:
        self.root = Folder(ROOT_NAME)
        self.cwd: Folder = self.root

    # -- resolution --------------------------------------------------------
    def _start(self, path: str, base: Folder | None) -> tuple[Folder, list[str]]:
        """The folder ``path`` starts from and the parts to follow from there."""
        if path.startswith("/"):
            raise SilikError(
                f"{path!r} is not a silik path",
                hint="absolute paths start with '~', e.g. ~/a/k1.py",
            )
        parts = split_path(path)
        if parts and parts[0] == ROOT_NAME:
            return self.root, parts[1:]
        return (base or self.cwd), parts

    def resolve(self, path: str, base: Folder | None = None) -> Folder | KernelEntry:
        """The node at ``path``; raises SilikError naming the missing part."""
        node: Folder | KernelEntry
        node, parts = self._start(path, base)
        for i, part in enumerate(parts):
            if isinstance(node, KernelEntry):
                raise SilikError(f"{node.path} is a kernel, not a folder", hint=None)
            if part == ".":
                continue
            if part == "..":
                node = node.parent or node
                continue
            child = node.children.get(part)
            if child is None:
                raise SilikError(
                    f"no such kernel or folder: {path}",
                    hint=_suggest(node, part, parts[i + 1 :] == []),
                )
            node = child
        return node

    def folder(self, path: str) -> Folder:
        node = self.resolve(path)
        if not isinstance(node, Folder):
            raise SilikError(
                f"{node.path} is a kernel, not a folder",
                hint=f"connect to it with `> {path}`, or name a folder",
            )
        return node

    def kernel(self, path: str) -> KernelEntry:
        node = self.resolve(path)
        if not isinstance(node, KernelEntry):
            raise SilikError(
                f"{node.path} is a folder, not a kernel",
                hint=f"list its kernels with `ls {path}`",
            )
        return node

    def glob(self, pattern: str) -> list[Folder | KernelEntry]:
        """The nodes a path with ``*``, ``?`` or ``[...]`` parts names, in display order.

        Each part matches one name (``fnmatch``, case-sensitive); ``**`` is not
        special. A path without such parts resolves as usual, errors included.
        """
        if not is_pattern(pattern):
            return [self.resolve(pattern)]
        start, parts = self._start(pattern, None)
        frontier: list[Folder | KernelEntry] = [start]
        for part in parts:
            step: list[Folder | KernelEntry] = []
            for node in frontier:
                if not isinstance(node, Folder):
                    continue  # a kernel has no children to match
                if part == ".":
                    step.append(node)
                elif part == "..":
                    step.append(node.parent or node)
                elif is_pattern(part):
                    step += [c for c in sorted_children(node) if fnmatch.fnmatchcase(c.name, part)]
                elif part in node.children:
                    step.append(node.children[part])
            if not step:
                searched = ", ".join(n.path for n in frontier if isinstance(n, Folder))
                raise SilikError(
                    f"nothing matches {pattern}",
                    hint=f"nothing in {searched or 'a folder'} matches {part!r}; see `tree`",
                )
            frontier = list({id(n): n for n in step}.values())  # `*/..` reaches a folder twice
        return frontier

    def parent_and_name(self, path: str) -> tuple[Folder, str]:
        """Split ``path`` into an existing parent folder and a new last name."""
        self._start(path, None)  # refuses '/'-rooted paths
        parts = split_path(path)
        if not parts or parts[-1] in (ROOT_NAME, ".", ".."):
            raise SilikError(f"{path!r} does not name a new entry", hint=None)
        parent_path = "/".join(parts[:-1]) or "."
        if path.startswith(ROOT_NAME + "/") and len(parts) == 2:
            parent_path = ROOT_NAME
        return self.folder(parent_path), parts[-1]

    # -- changes -----------------------------------------------------------
    def mkdir(self, path: str, parents: bool = False) -> Folder:
        start, parts = self._start(path, None)
        # Validate the whole path before creating anything.
        cursor: Folder = start
        missing = False
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part in (".", ".."):
                if missing:
                    raise SilikError(f"{path!r}: '{part}' after a missing folder", hint=None)
                cursor = cursor if part == "." else (cursor.parent or cursor)
                continue
            check_label(part)
            if missing:
                continue
            existing = cursor.children.get(part)
            if existing is None:
                if not last and not parents:
                    raise SilikError(
                        f"no such folder: {join(cursor.path, part)}",
                        hint=f"use `mkdir -p {path}` to create missing parents",
                    )
                missing = True
                continue
            if isinstance(existing, KernelEntry):
                raise SilikError(f"{existing.path} is a kernel, not a folder", hint=None)
            if last and not parents:
                raise SilikError(
                    f"folder {existing.path} already exists",
                    hint="use `mkdir -p` to accept existing folders",
                )
            cursor = existing
        if not parts or (not missing and not parents):
            raise SilikError(f"{cursor.path} already exists", hint=None)
        folder = start
        for part in parts:
            if part in (".", ".."):
                folder = folder if part == "." else (folder.parent or folder)
                continue
            nxt = folder.children.get(part)
            if nxt is None:
                nxt = Folder(part)
                folder.add(nxt)
            assert isinstance(nxt, Folder)
            folder = nxt
        return folder

    def add_kernel(self, folder: Folder, label: str, extension: str, kernel_id: str) -> KernelEntry:
        check_label(label)
        entry = KernelEntry(label + extension, kernel_id)
        folder.add(entry)
        return entry

    def cd(self, path: str | None) -> Folder:
        if not path:
            self.cwd = self.root
            return self.cwd
        node = self.resolve(path)
        if isinstance(node, KernelEntry):
            raise SilikError(
                f"cannot cd into {node.path}: it is a kernel",
                hint=f"connect to it with `> {path}`",
            )
        self.cwd = node
        return node

    def remove(self, node: Folder | KernelEntry) -> None:
        if node is self.root or node.parent is None:
            raise SilikError("cannot remove ~", hint=None)
        if isinstance(node, Folder) and _contains(node, self.cwd):
            self.cwd = node.parent
        del node.parent.children[node.name]
        node.parent = None

    def move(self, src: str, dst: str) -> Folder | KernelEntry:
        node = self.resolve(src)
        if node is self.root:
            raise SilikError("cannot move ~", hint=None)
        try:
            target = self.resolve(dst)
        except SilikError:
            if dst.endswith("/"):  # `mv k1.py work/` moves into work; never renames to work.py
                raise
            target = None
        if isinstance(target, Folder):
            new_parent, new_name = target, node.name
        elif isinstance(target, KernelEntry):
            raise SilikError(
                f"{target.path} already exists", hint="rm it first or pick another name"
            )
        else:
            new_parent, new_name = self.parent_and_name(dst)
            if isinstance(node, KernelEntry):
                ext = "." + node.name.rsplit(".", 1)[1] if "." in node.name else ""
                if not new_name.endswith(ext):
                    new_name += ext
                check_label(new_name[: len(new_name) - len(ext)] if ext else new_name)
            else:
                check_label(new_name)
        if isinstance(node, Folder) and _contains(node, new_parent):
            raise SilikError(f"cannot move {node.path} into itself", hint=None)
        if new_name in new_parent.children and new_parent.children[new_name] is not node:
            raise SilikError(
                f"{join(new_parent.path, new_name)} already exists",
                hint="rm it first or pick another name",
            )
        assert node.parent is not None
        del node.parent.children[node.name]
        node.name = new_name
        node.parent = None
        new_parent.add(node)
        return node

    def unique_label(self, folder: Folder, stem: str, extension: str, taken: set[str]) -> str:
        """A readable label not used in ``folder``: ``py1``, ``py2``..."""
        n = 1
        while True:
            label = f"{stem}{n}"
            if label + extension not in folder.children and label not in taken:
                return label
            n += 1


def _contains(folder: Folder, node: Folder | KernelEntry | None) -> bool:
    while node is not None:
        if node is folder:
            return True
        node = node.parent
    return False


def _suggest(folder: Folder, name: str, last: bool) -> str | None:
    """A did-you-mean hint for a missing path part."""
    import difflib

    names = list(folder.children)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {join(folder.path, close[0])}?"
    # k1 for k1.py
    stems = [n for n in names if n.rsplit(".", 1)[0] == name]
    if stems:
        return f"did you mean {join(folder.path, stems[0])}? (kernel names include the extension)"
    if not names:
        return f"{folder.path} is empty; see `tree`"
    return f"{folder.path} contains: {', '.join(sorted(names))}"


# -- rendering ------------------------------------------------------------


def render_tree(folder: Folder, describe=None, mark=None) -> str:
    """Draw ``folder`` with ``├─ ╰─ │``; ``describe(entry)`` adds a note after kernels."""
    lines = [folder.path if folder.parent is None else folder.path + "/"]

    def visit(node: Folder, prefix: str) -> None:
        kids = sorted_children(node)
        for i, child in enumerate(kids):
            last = i == len(kids) - 1
            branch = "╰─ " if last else "├─ "
            label = child.name + ("/" if isinstance(child, Folder) else "")
            if isinstance(child, KernelEntry) and describe is not None:
                note = describe(child)
                if note:
                    label += f"  {note}"
            if mark is not None and mark(child):
                label += "  <- here"
            lines.append(prefix + branch + label)
            if isinstance(child, Folder):
                visit(child, prefix + ("   " if last else "│  "))

    visit(folder, "")
    return "\n".join(lines)
