"""The virtual folder tree that holds sub-kernels.

Pure data and path logic: no I/O, no kernels. A path is a string such as
``~/agents/cook.py``, ``../k1.py``, ``.`` or ``a/b``; ``~`` is the root.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field

from silik_kernel.errors import SilikError
from silik_kernel.tree_names import (  # noqa: F401 (re-exported: the tree's names)
    LANGUAGE_EXTENSIONS,
    MAX_DEPTH,
    MAX_LABEL_LENGTH,
    MAX_PATH_LENGTH,
    ROOT_NAME,
    check_label,
    extension_for_language,
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
        return path_of(self)


@dataclass(eq=False)
class Folder:
    name: str
    parent: Folder | None = None
    children: dict[str, Folder | KernelEntry] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return path_of(self)

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
        """Every descendant, depth first, in display order (a stack, not recursion:
        any depth walks)."""
        stack = [iter(sorted_children(self))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                continue
            yield child
            if isinstance(child, Folder):
                stack.append(iter(sorted_children(child)))

    def kernels(self) -> list[KernelEntry]:
        return [n for n in self.walk() if isinstance(n, KernelEntry)]


def join(base: str, name: str) -> str:
    return f"{base}/{name}"


def path_of(node: Folder | KernelEntry) -> str:
    """``node``'s absolute path, by a loop over its parents (no recursion)."""
    names: list[str] = []
    while node.parent is not None:
        names.append(node.name)
        node = node.parent
    return "/".join([ROOT_NAME, *reversed(names)])


def depth_of(folder: Folder) -> int:
    """How many folders ``folder`` is below ~."""
    depth = 0
    while folder.parent is not None:
        depth, folder = depth + 1, folder.parent
    return depth


def check_room(parent: Folder, names: list[str], height: int = 0, tail: int = 0) -> None:
    """Refuse folders ``names`` nested in ``parent`` (holding ``height`` more levels
    and ``tail`` more characters of path) past MAX_DEPTH or MAX_PATH_LENGTH."""
    where = join(parent.path, "/".join(names))
    depth = depth_of(parent) + len(names) + height
    if names and depth > MAX_DEPTH:
        raise SilikError(
            f"{where[:60]}... would be {depth} folders deep; folders nest at most {MAX_DEPTH} deep",
            hint="use a flatter layout",
        )
    if len(where) + tail > MAX_PATH_LENGTH:
        raise SilikError(
            f"{where[:60]}... would be {len(where) + tail} characters long; "
            f"paths are at most {MAX_PATH_LENGTH}",
            hint="use shorter names or a flatter layout",
        )


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
        if len(path) > MAX_PATH_LENGTH:
            raise SilikError(
                f"a path of {len(path)} characters is too long; paths are at most {MAX_PATH_LENGTH}",
                hint="use shorter names or a flatter layout",
            )
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
        new_names: list[str] = []  # the folders to create below cursor
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part in (".", ".."):
                if missing:
                    raise SilikError(f"{path!r}: '{part}' after a missing folder", hint=None)
                cursor = cursor if part == "." else (cursor.parent or cursor)
                continue
            check_label(part)
            if missing:
                new_names.append(part)
                continue
            existing = cursor.children.get(part)
            if existing is None:
                if not last and not parents:
                    raise SilikError(
                        f"no such folder: {join(cursor.path, part)}",
                        hint=f"use `mkdir -p {path}` to create missing parents",
                    )
                missing = True
                new_names.append(part)
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
        check_room(cursor, new_names)
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
        check_room(folder, [], tail=len(label + extension) + 1)
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
        if isinstance(node, Folder):
            height, tail = _extent(node)
            check_room(new_parent, [new_name], height, tail)
        else:
            check_room(new_parent, [], tail=len(new_name) + 1)
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


def _extent(folder: Folder) -> tuple[int, int]:
    """How many folder levels ``folder`` holds below it, and the longest path
    below it in characters (relative to it)."""
    height = tail = 0
    stack = [(folder, 0, 0)]
    while stack:
        node, depth, length = stack.pop()
        height = max(height, depth)
        for child in node.children.values():
            tail = max(tail, length + 1 + len(child.name))
            if isinstance(child, Folder):
                stack.append((child, depth + 1, length + 1 + len(child.name)))
    return height, tail


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
