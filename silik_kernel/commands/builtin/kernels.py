"""The "Kernels" commands: start, stop, run code on and inspect sub-kernels."""

from __future__ import annotations

import json
import time
from typing import Any

from silik_kernel.commands.context import Context
from silik_kernel.commands.declaration import Arg, Opt
from silik_kernel.commands.fanout import GroupedOutput, KernelDone, summary
from silik_kernel.commands.frontend import Output, SubKernelError
from silik_kernel.commands.registry import CommandRegistry
from silik_kernel.errors import SilikError
from silik_kernel.starter import MAX_START_COUNT
from silik_kernel.tree import KernelEntry

commands = CommandRegistry("Kernels")
command = commands.command


def _default_path(ctx: Context, path: str | None, cmd: str) -> str:
    if path:
        return path
    if ctx.frontend.connected_path:
        return ctx.frontend.connected_path
    raise SilikError(f"{cmd}: missing PATH", hint=f"usage: {ctx.registry.get(cmd).usage}")


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
)
async def _kernels(ctx: Context, values: dict[str, Any]) -> Output:
    headers = ["name", "display name", "language"]
    if values["gateway"]:
        host, specs = await ctx.manager.remote_kernelspecs(values["gateway"])
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
            f"how many kernels to start with generated labels (at most {MAX_START_COUNT})",
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
)
async def _new(ctx: Context, values: dict[str, Any]) -> Output:
    if not 1 <= values["count"] <= MAX_START_COUNT:
        raise SilikError(
            f"new: -n must be between 1 and {MAX_START_COUNT}",
            hint="start more kernels in several `new` commands",
        )
    entries = await ctx.manager.start(
        values["kernel"],
        values["labels"] or None,
        count=values["count"],
        folder=values["folder"],
        gateway=values["gateway"],
        local=values["local"],
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
)
async def _stop(ctx: Context, values: dict[str, Any]) -> Output:
    connected = ctx.frontend.connected_path
    stopped = await ctx.manager.stop(values["paths"])
    if connected in stopped:
        ctx.frontend.leave_connect_mode()
    return Output("stopped " + ", ".join(stopped))


@command(
    "restart",
    "Restart a kernel: a fresh process with empty state, same name and place.",
    args=[Arg("path", "the kernel to restart", kind="kernel")],
)
async def _restart(ctx: Context, values: dict[str, Any]) -> Output:
    entry = await ctx.manager.restart(values["path"])
    return Output(f"restarted {entry.path}")


@command(
    "interrupt",
    "Interrupt what a kernel is running (like Ctrl-C).",
    args=[Arg("path", "the kernel to interrupt", kind="kernel")],
)
async def _interrupt(ctx: Context, values: dict[str, Any]) -> Output:
    await ctx.manager.interrupt(values["path"])
    return Output(f"interrupted {ctx.manager.record(values['path']).entry.path}")


@command(
    "run",
    "Run code on a kernel; its output appears here as it is produced.",
    args=[
        Arg("code", "the code, in quotes; newlines inside the quotes are kept", kind="code"),
        Arg("path", "the kernel to run it on", kind="kernel"),
    ],
    details="If the code raises, this cell fails with the kernel's error.",
    examples=['run "x = 19" k1.py', "run 'print(\"hello\")' ~/work/k1.py"],
)
async def run_on_kernel(ctx: Context, values: dict[str, Any]) -> None:
    reply = await ctx.frontend.relay(values["path"], values["code"])
    if reply.get("status") == "error":
        raise SubKernelError(reply)
    if reply.get("status") == "aborted":
        raise SilikError(f"the run on {values['path']} was aborted", hint=None)


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
)
async def _broadcast(ctx: Context, values: dict[str, Any]) -> None:
    paths = ctx.kernel_paths(values["paths"])
    for path in paths:
        notice = ctx.manager.take_restart_notice(path)
        if notice:
            ctx.print("warning: " + notice, "stderr")
    view = GroupedOutput(ctx.frontend)
    done: list[KernelDone] = []
    started = time.monotonic()
    async for event in ctx.run_many(paths, values["code"]):
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
)
async def _info(ctx: Context, values: dict[str, Any]) -> Output:
    info = await ctx.manager.info(_default_path(ctx, values["path"], "info"))
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
)
async def _connect_info(ctx: Context, values: dict[str, Any]) -> Output:
    info = ctx.manager.connect_info(_default_path(ctx, values["path"], "connect_info"))
    return Output(json.dumps(info, indent=2, sort_keys=True))


@command(
    "history",
    "Show the last inputs (and outputs with -o) a kernel ran since it started (not other kernels').",
    args=[Arg("path", "the kernel (default: the connected one)", kind="kernel", nargs="?")],
    options=[
        Opt(("-o", "--output"), "output", "include outputs"),
        Opt(("-n",), "n", "how many entries, 1 or more (default 10)", "N", kind="int", default=10),
    ],
)
async def _history(ctx: Context, values: dict[str, Any]) -> Output:
    items = await ctx.manager.history(
        _default_path(ctx, values["path"], "history"), output=values["output"], n=values["n"]
    )
    lines = []
    for item in items:
        line_no, entry = item[1], item[2]  # item[0] is the session, always the kernel's own
        if isinstance(entry, list | tuple):
            source, out = entry[0], entry[1]
            lines.append(f"[{line_no}] {source}")
            if out is not None:
                lines.append(f"  -> {out}")
        else:
            lines.append(f"[{line_no}] {entry}")
    return Output("\n".join(lines) if lines else "(no history)")


@command(
    "usage",
    "Show what the agent kernels under a folder spent: requests, tokens, cost, and the total.",
    args=[Arg("path", "a folder or an agent kernel (default: ~)", kind="path", nargs="?")],
    details=(
        "Each agent kernel's own usage since it started (every conversation), as its latest\n"
        "reply seen by silik says; what an agent asked other agents to do is in their rows.\n"
        "Cost is shown when the model's price is known, '-' otherwise."
    ),
    examples=["usage", "usage ~/team", "usage analyst.txt"],
)
async def _usage(ctx: Context, values: dict[str, Any]) -> Output:
    node = ctx.manager.tree.resolve(values["path"] or "~")
    entries = [node] if isinstance(node, KernelEntry) else node.kernels()
    records = [r for r in map(ctx.manager.record_of, entries) if r.agent]
    if not records:
        return Output(f"no agent kernels under {node.path}", None)
    keys = ("requests", "input_tokens", "output_tokens")
    rows, total, costs = [], dict.fromkeys(keys, 0), []
    for rec in sorted(records, key=lambda r: r.entry.path):
        used = rec.usage or {}
        counts = [int(used.get(k) or 0) for k in keys]
        for k, n in zip(keys, counts, strict=True):
            total[k] += n
        cost = used.get("cost")
        costs.append(cost if isinstance(cost, int | float) else None)
        rows.append([rec.entry.path, rec.model or "(its own)", *counts, _cost(costs[-1])])
    known = [c for c in costs if c is not None]
    total_cost = _cost(sum(known) if known else None)
    if known and len(known) < len(costs):
        total_cost += " + unpriced"
    label = f"total ({len(records)} agent{'s' if len(records) != 1 else ''})"
    rows.append([label, "", *total.values(), total_cost])
    headers = ["agent kernel", "model", "requests", "input tokens", "output tokens", "cost"]
    return Output.table(headers, rows)


def _cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.6f}"
