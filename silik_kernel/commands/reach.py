"""Which kernels a command line acts on: what an agent's policy checks before it runs.

A word of kind ``kernel`` names the kernels it resolves to (a glob names
several); a word of kind ``path`` names a kernel, or every kernel inside the
folder it names (``rm -r`` stops them, ``mv`` moves them). ``folder`` words
(mkdir, cd, tree) name no kernel. A word that resolves to nothing names nothing:
the command itself reports it.
"""

from __future__ import annotations

from silik_kernel.commands.runner import PlannedLine
from silik_kernel.errors import SilikError
from silik_kernel.tree import Folder, KernelEntry, Tree


def kernels_named(tree: Tree, planned: PlannedLine) -> list[KernelEntry]:
    """The kernels the line's words name, each once, in the order named."""
    cmd, values = planned.command, planned.values
    if cmd is None or values is None or cmd.lists_only:
        return []
    fields = [(a.name, a.kind) for a in cmd.args] + [(o.dest, o.kind) for o in cmd.options]
    found: dict[str, KernelEntry] = {}
    for name, kind in fields:
        if kind not in ("kernel", "path"):
            continue
        value = values.get(name)
        for word in value if isinstance(value, list) else [value]:
            if not isinstance(word, str) or not word:
                continue
            try:
                nodes = tree.glob(word)
            except SilikError:
                continue
            for node in nodes:
                if isinstance(node, KernelEntry):
                    found[node.kernel_id] = node
                elif kind == "path" and isinstance(node, Folder):
                    found.update((k.kernel_id, k) for k in node.kernels())
    return list(found.values())
