"""Drawing a folder of the silik tree as text, the way `tree` shows it."""

from __future__ import annotations

from silik_kernel.tree import Folder, KernelEntry, sorted_children


def render_tree(folder: Folder, describe=None, mark=None) -> str:
    """Draw ``folder`` with ``├─ ╰─ │``; ``describe(entry)`` adds a note after kernels."""
    lines = [folder.path if folder.parent is None else folder.path + "/"]
    # (the children left to draw, the prefix of their lines): a stack, so any depth draws
    stack = [(sorted_children(folder)[::-1], "")]
    while stack:
        kids, prefix = stack[-1]
        if not kids:
            stack.pop()
            continue
        child = kids.pop()
        last = not kids
        label = child.name + ("/" if isinstance(child, Folder) else "")
        if isinstance(child, KernelEntry) and describe is not None:
            note = describe(child)
            if note:
                label += f"  {note}"
        if mark is not None and mark(child):
            label += "  <- here"
        lines.append(prefix + ("╰─ " if last else "├─ ") + label)
        if isinstance(child, Folder):
            stack.append((sorted_children(child)[::-1], prefix + ("   " if last else "│  ")))
    return "\n".join(lines)
