"""The "Tree" commands: the folders of the silik tree, and kernels as files in them."""

from __future__ import annotations

import html
from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Arg, Opt
from silik_kernel.commands.frontend import Output
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.manager import KernelRecord
from silik_kernel.tree import Folder, KernelEntry, sorted_children
from silik_kernel.tree_drawing import render_tree

commands = CommandRegistry("Tree")
command = commands.command


def _tree_note(rec: KernelRecord) -> str:
    """What the tree drawing says after a kernel: its kernelspec, status, host and starter."""
    spec = rec.spec_name if rec.sub is None or rec.sub.owned else "attached"
    note = f"{spec} {rec.status}"
    if rec.remote_host:
        note += f" remote:{rec.remote_host}"
    if rec.started_by != "user":
        note += f" (started by {rec.started_by})"
    return f"[{note}]" + (f" {agent_mark(rec)}" if rec.agent else "")


def agent_mark(rec: KernelRecord) -> str:
    """How an agent kernel is marked: ``[agent: MODEL]``, ``[agent]`` until its model is known."""
    return f"[agent: {rec.model}]" if rec.model else "[agent]"


@command(
    "mkdir",
    "Create a folder.",
    args=[Arg("path", "the new folder", kind="folder")],
    options=[Opt(("-p", "--parents"), "parents", "create missing parents; no error if it exists")],
    examples=["mkdir work", "mkdir -p ~/a/b/c"],
)
async def _mkdir(ctx: Context, values: dict[str, Any]) -> None:
    ctx.manager.mkdir(values["path"], values["parents"])


@command(
    "cd",
    "Change the current folder (no argument: ~).",
    args=[Arg("path", "the folder", kind="folder", nargs="?")],
    examples=["cd work", "cd ..", "cd"],
)
async def _cd(ctx: Context, values: dict[str, Any]) -> None:
    ctx.manager.cd(values["path"])


@command("pwd", "Show the current folder (and the connected kernel in connect mode).")
async def _pwd(ctx: Context, values: dict[str, Any]) -> Output:
    text = ctx.manager.tree.cwd.path
    if ctx.frontend.connected_path:
        text += f"\nconnected to {ctx.frontend.connected_path}"
    return Output(text)


@command(
    "ls",
    "List a folder's kernels and folders.",
    args=[Arg("path", "a folder or kernel (default: the current folder)", kind="path", nargs="?")],
    lists_only=True,
)
async def _ls(ctx: Context, values: dict[str, Any]) -> Output:
    node = ctx.manager.tree.resolve(values["path"] or ".")
    nodes = [node] if isinstance(node, KernelEntry) else sorted_children(node)
    headers = ["name", "kernelspec", "status", "started by"]
    rows = []
    hosts = []
    agents = []
    for n in nodes:
        if isinstance(n, Folder):
            count = len(n.kernels())
            rows.append([n.name + "/", "folder", f"{count} kernel{'s' if count != 1 else ''}", ""])
            hosts.append("")
            agents.append("")
        else:
            rec = ctx.manager.record_of(n)
            spec = rec.spec_name if rec.sub is None or rec.sub.owned else "attached"
            rows.append([n.name, spec, rec.status, rec.started_by])
            hosts.append(f"remote:{rec.remote_host}" if rec.remote_host else "local")
            agents.append((rec.model or "(its own)") if rec.agent else "")
    if not rows:
        return Output(f"{node.path} is empty", None)
    if any(agents):
        headers.append("agent model")
        rows = [[*r, a] for r, a in zip(rows, agents, strict=True)]
    if any(h.startswith("remote:") for h in hosts):
        headers.append("where")
        rows = [[*r, h] for r, h in zip(rows, hosts, strict=True)]
    return Output.table(headers, rows)


@command(
    "tree",
    "Draw the folder tree with every kernel and its status.",
    args=[Arg("path", "the folder to draw (default: ~)", kind="folder", nargs="?")],
)
async def _tree(ctx: Context, values: dict[str, Any]) -> Output:
    tree = ctx.manager.tree
    folder = tree.folder(values["path"] or "~")
    connected = ctx.frontend.connected_path
    text = render_tree(
        folder,
        describe=lambda e: _tree_note(ctx.manager.record_of(e)),
        mark=lambda n: n is tree.cwd or (isinstance(n, KernelEntry) and n.path == connected),
    )
    if folder is tree.cwd:
        first, _, rest = text.partition("\n")
        text = f"{first}  <- here" + (f"\n{rest}" if rest else "")
    return Output(text, "<pre>" + html.escape(text) + "</pre>")


@command(
    "rm",
    "Remove a kernel (stopping it) or a folder (-r for a folder that is not empty).",
    args=[Arg("path", "what to remove", kind="path")],
    options=[Opt(("-r", "--recursive"), "recursive", "remove a folder with everything in it")],
)
async def _rm(ctx: Context, values: dict[str, Any]) -> Output:
    node = ctx.manager.tree.resolve(values["path"])
    path = node.path
    connected = ctx.frontend.connected_path
    stopped = await ctx.manager.rm(values["path"], values["recursive"])
    if connected and (connected == path or connected.startswith(path + "/")):
        ctx.frontend.leave_connect_mode()
    note = f" (stopped {', '.join(stopped)})" if stopped and isinstance(node, Folder) else ""
    return Output(f"removed {path}{note}")


@command(
    "mv",
    "Move or rename a kernel or folder.",
    args=[
        Arg("src", "what to move", kind="path"),
        Arg("dst", "a folder to move into, or a new name", kind="path"),
    ],
    details="Renaming a kernel keeps its extension: `mv k1.py k2` gives k2.py.",
    examples=["mv k1.py work/", "mv k1.py k2", "mv work done"],
)
async def _mv(ctx: Context, values: dict[str, Any]) -> Output:
    old = ctx.manager.tree.resolve(values["src"]).path
    connected = ctx.frontend.connected_path
    node = ctx.manager.mv(values["src"], values["dst"])
    if connected and (connected == old or connected.startswith(old + "/")):
        ctx.frontend.enter_connect_mode(node.path + connected[len(old) :])
    return Output(f"{old} -> {node.path}")
