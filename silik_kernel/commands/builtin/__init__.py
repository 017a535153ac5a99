"""The built-in silik commands, declared with the same public API plugins use."""

from __future__ import annotations

import html
import json
import os
import time
from typing import Any

from silik_kernel.commands.fanout import GroupedOutput, KernelDone, summary
from silik_kernel.commands.parsing import split_lines
from silik_kernel.commands.registry import (
    Arg,
    CommandRegistry,
    Context,
    Opt,
    Output,
    SubKernelError,
)
from silik_kernel.errors import SilikError
from silik_kernel.manager import KernelRecord
from silik_kernel.tree import Folder, KernelEntry, render_tree, sorted_children

builtins = CommandRegistry()
command = builtins.command

TREE = "Tree"
KERNELS = "Kernels"
SESSION = "Session"


# -- rendering helpers --------------------------------------------------------
def describe(rec: KernelRecord) -> str:
    spec = rec.spec_name if rec.sub is None or rec.sub.owned else "attached"
    note = f"{spec} {rec.status}"
    if rec.remote_host:
        note += f" remote:{rec.remote_host}"
    if rec.started_by != "user":
        note += f" (started by {rec.started_by})"
    return f"[{note}]"


def _default_path(ctx: Context, path: str | None, cmd: str) -> str:
    if path:
        return path
    if ctx.frontend.connected_path:
        return ctx.frontend.connected_path
    raise SilikError(f"{cmd}: missing PATH", hint=f"usage: {ctx.registry.get(cmd).usage}")


# -- help and session ---------------------------------------------------------
@command(
    "help",
    "Show the commands, or one command's arguments.",
    args=[Arg("command", "the command to explain", kind="command", nargs="?")],
    examples=["help", "help new"],
    section=SESSION,
)
async def _help(ctx: Context, a: dict[str, Any]) -> Output:
    if a["command"]:
        return Output(ctx.registry.get(a["command"]).help())
    return Output(ctx.registry.overview())


@command(
    "exit",
    "Ask the frontend to close (jupyter console quits; notebooks ignore it).",
    aliases=("quit",),
    section=SESSION,
)
async def _exit(ctx: Context, a: dict[str, Any]) -> None:
    ctx.frontend.request_exit()


@command(
    "connect",
    "Enter connect mode: every following cell goes to this kernel, until `/cmd`.",
    args=[Arg("path", "the kernel to talk to", kind="kernel")],
    aliases=(">",),
    details=(
        "In connect mode silik relays everything (output, errors, input(), completion,\n"
        "inspection, interrupts, widgets) to and from the kernel. A cell that is exactly\n"
        "`/cmd` or `<` returns to command mode; a cell starting with `/cmd ` runs the rest\n"
        "of the line as one silik command without leaving connect mode."
    ),
    examples=["> k1.py", "connect ~/work/k1.py"],
    section=SESSION,
)
async def _connect(ctx: Context, a: dict[str, Any]) -> Output:
    rec = ctx.manager.record(a["path"])
    ctx.manager.subkernel(a["path"])  # refuses dead or starting kernels
    ctx.frontend.enter_connect_mode(rec.entry.path)
    return Output(f"connected to {rec.entry.path}; `/cmd` returns to silik commands")


@command(
    "cmd",
    "Leave connect mode and return to silik commands.",
    aliases=("<", "/cmd"),
    section=SESSION,
)
async def _cmd(ctx: Context, a: dict[str, Any]) -> Output:
    was = ctx.frontend.connected_path
    ctx.frontend.leave_connect_mode()
    return Output(f"left {was}; back to silik commands" if was else "already in command mode")


@command(
    "source",
    "Run a file of silik commands, line by line; stops at the first failing line.",
    args=[Arg("file", "a text file of silik commands", kind="file")],
    examples=["source setup.silik"],
    section=SESSION,
)
async def _source(ctx: Context, a: dict[str, Any]) -> None:
    text = _read_text(a["file"])
    assert ctx.run_lines is not None
    try:
        lines = split_lines(text)
    except SilikError as exc:
        raise SilikError(f"{a['file']}: {exc.message}", exc.hint) from None
    await ctx.run_lines(lines, a["file"])


@command(
    "cat",
    "Print a text file.",
    args=[Arg("file", "the file to print", kind="file")],
    section=SESSION,
)
async def _cat(ctx: Context, a: dict[str, Any]) -> Output:
    return Output(_read_text(a["file"]).rstrip("\n"))


def _read_text(path: str) -> str:
    full = os.path.expanduser(path)
    try:
        with open(full, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise SilikError(
            f"no such file: {path}", hint=f"the current directory is {os.getcwd()}"
        ) from None
    except IsADirectoryError:
        raise SilikError(f"{path} is a directory, not a file", hint=None) from None
    except UnicodeDecodeError:
        raise SilikError(f"{path} is not a UTF-8 text file", hint=None) from None
    except OSError as exc:
        raise SilikError(f"cannot read {path}: {exc.strerror}", hint=None) from None


# -- kernels ------------------------------------------------------------------
GATEWAY_OPT = Opt(
    ("-g", "--gateway"),
    "gateway",
    "a Jupyter Kernel/Enterprise Gateway: its URL, or a name from silik_gateway.json",
    "URL",
)


@command(
    "kernels",
    "List the installed kernelspecs that `new` can start (and a gateway's).",
    options=[GATEWAY_OPT],
    details=(
        "With --gateway, lists the kernelspecs of that gateway instead. When the session\n"
        "has a gateway (SILIK_GATEWAY_URL), its kernelspecs are listed too."
    ),
    examples=["kernels", "kernels --gateway http://127.0.0.1:8888"],
    section=KERNELS,
)
async def _kernels(ctx: Context, a: dict[str, Any]) -> Output:
    headers = ["name", "display name", "language"]
    if a["gateway"]:
        host, specs = await ctx.manager.remote_kernelspecs(a["gateway"])
        rows = [[s.name, s.display_name, s.language] for s in specs]
        title = f"kernelspecs on the gateway at {host}:"
        table = Output.table(headers, rows)
        return Output(title + "\n" + table.text, table.html)
    rows = [[s.name, s.display_name, s.language, "local"] for s in ctx.manager.kernelspecs()]
    if not ctx.manager.session_gateway():
        rows = [r[:3] for r in rows]
        return Output.table(headers, rows)
    headers.append("where")
    note = ""
    try:
        host, specs = await ctx.manager.remote_kernelspecs()
        rows = [[s.name, s.display_name, s.language, f"remote:{host}"] for s in specs] + rows
    except SilikError as exc:
        note = f"\n(the session's gateway did not list its kernelspecs: {exc.message})"
    table = Output.table(headers, rows)
    return Output(table.text + note, table.html)


@command(
    "new",
    "Start sub-kernels in the current folder (several at once start concurrently).",
    args=[
        Arg(
            "kernel",
            "a kernelspec name (see `kernels`), or a connection file to attach to",
            kind="kernelspec",
        )
    ],
    options=[
        Opt(
            ("-l", "--label"),
            "labels",
            "labels of the new kernels; the name adds the extension (k1 -> k1.py)",
            "LABEL",
            many=True,
        ),
        Opt(
            ("-n", "--count"),
            "count",
            "how many kernels to start with generated labels",
            "N",
            kind="int",
            default=1,
        ),
        Opt(
            ("-d", "--dir"),
            "folder",
            "start in this folder instead of the current one",
            "FOLDER",
            kind="folder",
        ),
        GATEWAY_OPT,
        Opt(("--local",), "local", "start on this machine even if the session has a gateway"),
    ],
    aliases=("start",),
    details=(
        "Without -l a readable unique label is generated (py1.py, py2.py...). Given a\n"
        "connection file (kernel-*.json), silik attaches to that running kernel and never\n"
        "shuts it down. If one of several kernels fails to start, none is kept.\n"
        "With --gateway (or SILIK_GATEWAY_URL set for the session) the kernels run on a\n"
        "Jupyter Kernel Gateway or Enterprise Gateway; the token comes from\n"
        "SILIK_GATEWAY_TOKEN or ~/.jupyter/silik_gateway.json."
    ),
    examples=[
        "new python3 -l k1",
        "new python3 -l a b c",
        "new python3 -n 4",
        "new ~/.local/share/jupyter/runtime/kernel-1234.json -l ext",
        "new python3 -l r1 --gateway http://127.0.0.1:8888",
    ],
    section=KERNELS,
)
async def _new(ctx: Context, a: dict[str, Any]) -> Output:
    if a["count"] < 1:
        raise SilikError("new: -n must be at least 1", hint=None)
    entries = await ctx.manager.start(
        a["kernel"],
        a["labels"] or None,
        count=a["count"],
        folder=a["folder"],
        gateway=a["gateway"],
        local=a["local"],
    )
    first = ctx.manager.record_of(entries[0])
    verb = "attached" if first.sub is not None and not first.sub.owned else "started"
    where = f" on the gateway at {first.remote_host}" if first.remote_host else ""
    return Output(f"{verb} " + ", ".join(e.path for e in entries) + where)


@command(
    "stop",
    "Stop kernels and remove them from the tree (attached kernels are only detached).",
    args=[Arg("paths", "kernels to stop", kind="kernel", nargs="+")],
    examples=["stop k1.py", "stop a.py b.py"],
    section=KERNELS,
)
async def _stop(ctx: Context, a: dict[str, Any]) -> Output:
    connected = ctx.frontend.connected_path
    stopped = await ctx.manager.stop(a["paths"])
    if connected in stopped:
        ctx.frontend.leave_connect_mode()
    return Output("stopped " + ", ".join(stopped))


@command(
    "restart",
    "Restart a kernel: a fresh process with empty state, same name and place.",
    args=[Arg("path", "the kernel to restart", kind="kernel")],
    section=KERNELS,
)
async def _restart(ctx: Context, a: dict[str, Any]) -> Output:
    entry = await ctx.manager.restart(a["path"])
    return Output(f"restarted {entry.path}")


@command(
    "interrupt",
    "Interrupt what a kernel is running (like Ctrl-C).",
    args=[Arg("path", "the kernel to interrupt", kind="kernel")],
    section=KERNELS,
)
async def _interrupt(ctx: Context, a: dict[str, Any]) -> Output:
    await ctx.manager.interrupt(a["path"])
    return Output(f"interrupted {ctx.manager.record(a['path']).entry.path}")


@command(
    "run",
    "Run code on a kernel; its output appears here as it is produced.",
    args=[
        Arg("code", "the code, in quotes; newlines inside the quotes are kept", kind="code"),
        Arg("path", "the kernel to run it on", kind="kernel"),
    ],
    details="If the code raises, this cell fails with the kernel's error.",
    examples=['run "x = 19" k1.py', "run 'print(\"hello\")' ~/work/k1.py"],
    section=KERNELS,
)
async def run_on_kernel(ctx: Context, a: dict[str, Any]) -> None:
    reply = await ctx.frontend.relay(a["path"], a["code"])
    if reply.get("status") == "error":
        raise SubKernelError(reply)
    if reply.get("status") == "aborted":
        raise SilikError(f"the run on {a['path']} was aborted", hint=None)


@command(
    "broadcast",
    "Run the same code on several kernels at once, their output grouped by kernel.",
    args=[
        Arg("code", "the code, in quotes; newlines inside the quotes are kept", kind="code"),
        Arg("paths", "the kernels; globs like ~/workers/* name several", "kernel", "+"),
    ],
    details=(
        "Every kernel runs the code concurrently. Output appears as it arrives, under a\n"
        "`── PATH ──` line naming its kernel (repeated whenever the kernel changes), then a\n"
        "summary line says which kernels succeeded and which failed. The cell fails if the\n"
        "code failed on any kernel. An interrupt interrupts every kernel. input() is not\n"
        "available, and clear_output is ignored (it would erase the other kernels' output)."
    ),
    examples=["broadcast 'import numpy as np' a.py b.py", 'broadcast "print(x)" ~/workers/*'],
    section=KERNELS,
)
async def _broadcast(ctx: Context, a: dict[str, Any]) -> None:
    paths = ctx.kernel_paths(a["paths"])
    for path in paths:
        notice = ctx.manager.take_restart_notice(path)
        if notice:
            ctx.print("warning: " + notice, "stderr")
    view = GroupedOutput(ctx.frontend)
    done: list[KernelDone] = []
    started = time.monotonic()
    async for event in ctx.run_many(paths, a["code"]):
        view.show(event)
        if isinstance(event, KernelDone):
            done.append(event)
    done.sort(key=lambda d: paths.index(d.path))  # the order they were named in
    view.line(summary(done, time.monotonic() - started))
    failed = [d.path for d in done if not d.ok]
    if failed:
        raise SilikError(
            f"broadcast failed on {len(failed)} of {len(done)} kernels: {', '.join(failed)}",
            hint="each kernel's error is shown above, under its path",
        )


@command(
    "info",
    "Show a kernel's kernel_info, status and process.",
    args=[Arg("path", "the kernel (default: the connected one)", kind="kernel", nargs="?")],
    section=KERNELS,
)
async def _info(ctx: Context, a: dict[str, Any]) -> Output:
    info = await ctx.manager.info(_default_path(ctx, a["path"], "info"))
    ki = info.pop("kernel_info") or {}
    lang = ki.get("language_info", {})
    rows = [
        ["path", info["path"]],
        [
            "status",
            info["status"] + (f" ({info['dead_reason']})" if info.get("dead_reason") else ""),
        ],
        ["kernelspec", info["kernelspec"]],
        ["owned by silik", "yes" if info["owned"] else "no (attached)"],
        ["started by", info["started_by"]],
        ["pid", str(info["pid"]) if info["pid"] else "-"],
        ["language", f"{lang.get('name', '?')} {lang.get('version', '')}".strip()],
        [
            "implementation",
            f"{ki.get('implementation', '?')} {ki.get('implementation_version', '')}".strip(),
        ],
        ["protocol", ki.get("protocol_version", "?")],
        ["connection file", info["connection_file"] or "-"],
    ]
    if info.get("remote_host"):
        rows.insert(3, ["runs on", f"gateway {info.get('gateway_url') or info['remote_host']}"])
        rows.insert(4, ["remote id", info.get("remote_kernel_id", "?")])
    if ctx.frontend.connected_path == info["path"]:
        rows.insert(1, ["connect mode", "active (this is the connected kernel)"])
    text = "\n".join(f"{k + ':':<16} {v}" for k, v in rows)
    banner = ki.get("banner", "").strip()
    if banner:
        text += "\nbanner:\n  " + banner.replace("\n", "\n  ")
    return Output(text, Output.table(["", ""], rows).html)


@command(
    "connect_info",
    "Show a kernel's connection info (ports, key), to attach another client to it.",
    args=[Arg("path", "the kernel (default: the connected one)", kind="kernel", nargs="?")],
    examples=["connect_info k1.py    # then: jupyter console --existing FILE"],
    section=KERNELS,
)
async def _connect_info(ctx: Context, a: dict[str, Any]) -> Output:
    info = ctx.manager.connect_info(_default_path(ctx, a["path"], "connect_info"))
    return Output(json.dumps(info, indent=2, sort_keys=True))


@command(
    "history",
    "Show the last inputs (and outputs with -o) a kernel ran.",
    args=[Arg("path", "the kernel (default: the connected one)", kind="kernel", nargs="?")],
    options=[
        Opt(("-o", "--output"), "output", "include outputs"),
        Opt(("-n",), "n", "how many entries (default 10)", "N", kind="int", default=10),
    ],
    section=KERNELS,
)
async def _history(ctx: Context, a: dict[str, Any]) -> Output:
    items = await ctx.manager.history(
        _default_path(ctx, a["path"], "history"), output=a["output"], n=a["n"]
    )
    lines = []
    for item in items:
        session, line_no, entry = item[0], item[1], item[2]
        if isinstance(entry, list | tuple):
            source, out = entry[0], entry[1]
            lines.append(f"[{session}:{line_no}] {source}")
            if out is not None:
                lines.append(f"  -> {out}")
        else:
            lines.append(f"[{session}:{line_no}] {entry}")
    return Output("\n".join(lines) if lines else "(no history)")


# -- tree ---------------------------------------------------------------------
@command(
    "mkdir",
    "Create a folder.",
    args=[Arg("path", "the new folder", kind="folder")],
    options=[Opt(("-p", "--parents"), "parents", "create missing parents; no error if it exists")],
    examples=["mkdir work", "mkdir -p ~/a/b/c"],
    section=TREE,
)
async def _mkdir(ctx: Context, a: dict[str, Any]) -> None:
    ctx.manager.mkdir(a["path"], a["parents"])


@command(
    "cd",
    "Change the current folder (no argument: ~).",
    args=[Arg("path", "the folder", kind="folder", nargs="?")],
    examples=["cd work", "cd ..", "cd"],
    section=TREE,
)
async def _cd(ctx: Context, a: dict[str, Any]) -> None:
    ctx.manager.cd(a["path"])


@command("pwd", "Show the current folder (and the connected kernel in connect mode).", section=TREE)
async def _pwd(ctx: Context, a: dict[str, Any]) -> Output:
    text = ctx.manager.tree.cwd.path
    if ctx.frontend.connected_path:
        text += f"\nconnected to {ctx.frontend.connected_path}"
    return Output(text)


@command(
    "ls",
    "List a folder's kernels and folders.",
    args=[Arg("path", "a folder or kernel (default: the current folder)", kind="path", nargs="?")],
    section=TREE,
)
async def _ls(ctx: Context, a: dict[str, Any]) -> Output:
    node = ctx.manager.tree.resolve(a["path"] or ".")
    nodes = [node] if isinstance(node, KernelEntry) else sorted_children(node)
    headers = ["name", "kernelspec", "status", "started by"]
    rows = []
    hosts = []
    for n in nodes:
        if isinstance(n, Folder):
            count = len(n.kernels())
            rows.append([n.name + "/", "folder", f"{count} kernel{'s' if count != 1 else ''}", ""])
            hosts.append("")
        else:
            rec = ctx.manager.record_of(n)
            spec = rec.spec_name if rec.sub is None or rec.sub.owned else "attached"
            rows.append([n.name, spec, rec.status, rec.started_by])
            hosts.append(f"remote:{rec.remote_host}" if rec.remote_host else "local")
    if not rows:
        return Output(f"{node.path} is empty", None)
    if any(h.startswith("remote:") for h in hosts):
        headers.append("where")
        rows = [[*r, h] for r, h in zip(rows, hosts, strict=True)]
    return Output.table(headers, rows)


@command(
    "tree",
    "Draw the folder tree with every kernel and its status.",
    args=[Arg("path", "the folder to draw (default: ~)", kind="folder", nargs="?")],
    section=TREE,
)
async def _tree(ctx: Context, a: dict[str, Any]) -> Output:
    tree = ctx.manager.tree
    folder = tree.folder(a["path"] or "~")
    connected = ctx.frontend.connected_path
    text = render_tree(
        folder,
        describe=lambda e: describe(ctx.manager.record_of(e)),
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
    section=TREE,
)
async def _rm(ctx: Context, a: dict[str, Any]) -> Output:
    node = ctx.manager.tree.resolve(a["path"])
    path = node.path
    connected = ctx.frontend.connected_path
    stopped = await ctx.manager.rm(a["path"], a["recursive"])
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
    section=TREE,
)
async def _mv(ctx: Context, a: dict[str, Any]) -> Output:
    old = ctx.manager.tree.resolve(a["src"]).path
    connected = ctx.frontend.connected_path
    node = ctx.manager.mv(a["src"], a["dst"])
    if connected and (connected == old or connected.startswith(old + "/")):
        ctx.frontend.enter_connect_mode(node.path + connected[len(old) :])
    return Output(f"{old} -> {node.path}")
