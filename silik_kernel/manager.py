"""SilikManager: the tree plus the sub-kernels, with every operation by path.

This is the one API that the commands, the kernel, the bridge and the agent
tools call. It never formats text for humans and never touches the frontend's
sockets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

from silik_kernel.agent_marks import BRIDGE_FILE_ENV
from silik_kernel.errors import STOPPED_REASON, KernelDiedError, SilikError
from silik_kernel.kernelspecs import SpecInfo, find_kernelspec, list_kernelspecs
from silik_kernel.records import KernelRecord
from silik_kernel.starter import KernelStarter
from silik_kernel.subkernels.execution import ExecuteOptions, Execution, Message, Sink
from silik_kernel.subkernels.gateway.settings import configured_gateway_url
from silik_kernel.subkernels.subkernel import SubKernel
from silik_kernel.tree import Folder, KernelEntry, Tree

# SpecInfo and KernelRecord are what the manager hands out: importable from here.
__all__ = ["KernelRecord", "SilikManager", "SpecInfo"]

log = logging.getLogger("silik.manager")


def stopped_elsewhere(path: str) -> str:
    """Why a cell waiting on ``path`` ended: a cell never stops the kernel it waits
    on, so someone else did."""
    return f"kernel {path} was stopped by another frontend or an agent (`stop`) while this cell ran on it."


class SilikManager:
    """Sub-kernels in a folder tree. Async methods run on the kernel's event loop."""

    def __init__(
        self,
        kernel_spec_manager: KernelSpecManager | None = None,
        child_env: dict[str, str] | None = None,
    ) -> None:
        self.tree = Tree()
        self.ksm = kernel_spec_manager or KernelSpecManager()
        self.child_env = child_env or {}  # variables every local child gets
        self.records: dict[str, KernelRecord] = {}
        # Out of the tree already, their processes not yet stopped: killed at exit too.
        self.stopping: dict[str, KernelRecord] = {}
        # (kernel_id, channel, msg) for traffic no request of ours caused, e.g. widget updates
        self.on_unrouted: Callable[[str, str, Message], None] | None = None
        # (spec name, kernel id, owner) -> the variables that give an agent kernel its
        # own bridge credentials; None where there is no bridge.
        self.agent_credentials: Callable[[str, str, str], dict[str, str]] | None = None
        self.starter = KernelStarter(
            self.tree,
            self.records,
            self.ksm,
            adopt=self._adopt,
            child_env=self._environment_for_children,
        )

    # -- kernelspecs -------------------------------------------------------
    def session_gateway(self) -> str | None:
        """The session's default gateway URL, if any (read without importing the
        gateway client)."""
        return configured_gateway_url()

    async def remote_kernelspecs(self, gateway: str | None = None) -> tuple[str, list[SpecInfo]]:
        """The gateway's host and kernelspecs (None: the session's gateway)."""
        gw = await self.starter.gateways.get(gateway)  # SILIK_GATEWAY_URL: the default
        specs = await gw.kernelspecs()
        return gw.host, [SpecInfo(s.name, s.display_name, s.language) for s in specs]

    def kernelspecs(self) -> list[SpecInfo]:
        return list_kernelspecs(self.ksm)

    def spec(self, name: str) -> SpecInfo:
        return find_kernelspec(self.ksm, name)

    # -- lookup ------------------------------------------------------------
    def record(self, path: str) -> KernelRecord:
        return self.records[self.tree.kernel(path).kernel_id]

    def record_of(self, entry: KernelEntry) -> KernelRecord:
        return self.records[entry.kernel_id]

    def subkernel(self, path: str) -> SubKernel:
        rec = self.record(path)
        if rec.sub is None:
            raise SilikError(f"{rec.entry.path} is still starting", hint="try again in a moment")
        if rec.status == "dead":
            reason = rec.sub.dead_reason or "it is dead"
            raise KernelDiedError(self.died_message(rec, reason), reason=reason)
        return rec.sub

    def died_message(self, rec: KernelRecord, reason: str, *, typed_after: str = "") -> str:
        """What happened to a kernel that died and what comes next: it is being
        restarted automatically, or the command that brings it back, as typed
        where the user is (``typed_after``: "/cmd " in connect mode)."""
        path = rec.entry.path if rec.entry.parent else rec.entry.name
        if reason == STOPPED_REASON:
            return stopped_elsewhere(path)
        rm = f"`{typed_after}rm {path}`"
        if rec.sub is not None and not rec.sub.owned:
            return f"kernel {path} is gone: {reason}. It was attached, so restart it where it was started, then {rm}."
        what = (
            f"kernel {path} is unavailable: {reason}."
            if rec.remote_host
            else f"kernel {path} died: {reason}."
        )
        if rec.sub is not None and rec.sub.comes_back:
            return f"{what} It is being restarted automatically, without its variables and imports; the next cell on it waits until it is back."
        restart = f"Type `{typed_after}restart {path}` for a fresh kernel"
        if rec.remote_host:
            return f"{what} {restart} on the gateway, or {rm}."
        return f"{what} It is not restarted automatically any more: it died again right after each of its automatic restarts. {restart}, or {rm}."

    # -- starting ----------------------------------------------------------
    async def start(
        self,
        kernel: str,
        labels: list[str] | None = None,
        *,
        count: int = 1,
        folder: str | None = None,
        started_by: str = "user",
        owner: str = "",
        env: dict[str, str] | None = None,
        gateway: str | None = None,
        local: bool = False,
    ) -> list[KernelEntry]:
        """Start (or attach, when ``kernel`` is a connection file) kernels concurrently.

        ``owner`` is the identity that owns them ("" for the user; an agent's id).
        All or nothing: names are checked before anything starts, and if one
        kernel fails to start the others of the same call are stopped.
        ``gateway`` (a URL or a name from silik_gateway.json) starts them on a
        Jupyter Kernel/Enterprise Gateway; without it the session's gateway
        (SILIK_GATEWAY_URL) is used, unless ``local``.
        """
        where = self.tree.folder(folder) if folder else self.tree.cwd
        return await self.starter.start(
            kernel,
            labels,
            where=where,
            count=count,
            started_by=started_by,
            owner=owner,
            env=env,
            gateway=gateway,
            local=local,
        )

    def _environment_for_children(
        self, spec: SpecInfo, kernel_id: str, owner: str
    ) -> dict[str, str]:
        """The variables a local child gets. Bridge credentials go only to agent
        kernels (one an agent starts is held to its starter's policy too); any other
        kernel gets none, and an inherited bridge variable is blanked."""
        env = {**self.child_env, BRIDGE_FILE_ENV: ""}
        if spec.agent and self.agent_credentials is not None:
            env.update(self.agent_credentials(spec.name, kernel_id, owner))
        return env

    def _adopt(self, sub: SubKernel) -> None:
        """Send the kernel's unrouted traffic to :attr:`on_unrouted`, looked up per
        message so that it can be set or replaced at any time."""

        def unrouted(channel: str, msg: Message, kernel_id: str = sub.kernel_id) -> None:
            if self.on_unrouted is not None:
                self.on_unrouted(kernel_id, channel, msg)

        sub.on_unrouted = unrouted

    # -- lifecycle by path -------------------------------------------------
    async def stop(self, paths: list[str]) -> list[str]:
        """Stop kernels (owned) or detach (attached) and remove them from the tree."""
        entries = [self.tree.kernel(p) for p in paths]  # all resolve, or nothing happens
        stopped = [e.path for e in entries]
        await self._stop_entries(entries)
        return stopped

    async def _stop_entries(self, entries: list[KernelEntry], grace: float | None = None) -> None:
        recs = [self.records.pop(e.kernel_id) for e in entries if e.kernel_id in self.records]
        for e in entries:
            if e.parent is not None:
                self.tree.remove(e)
        await asyncio.gather(*(self._stop_record(r, grace) for r in recs))

    async def _stop_record(self, rec: KernelRecord, grace: float | None) -> None:
        if rec.sub is None:
            return
        self.stopping[rec.entry.kernel_id] = rec
        try:
            if rec.sub.owned:
                await rec.sub.shutdown(grace=grace)
            else:
                await rec.sub.close()
        except Exception:
            log.exception("stopping %s", rec.entry.name)
        finally:
            self.stopping.pop(rec.entry.kernel_id, None)

    async def restart(self, path: str) -> KernelEntry:
        rec = self.record(path)
        if rec.sub is None:
            raise SilikError(f"{rec.entry.path} is still starting", hint="try again in a moment")
        await rec.sub.restart()
        return rec.entry

    async def interrupt(self, path: str) -> None:
        await self.subkernel(path).interrupt()

    async def shutdown_all(self, grace: float | None = None) -> None:
        """Stop every kernel at once; ``grace``: seconds each may take to exit
        on its own before it is killed (None: as `stop` does)."""
        await self._stop_entries(self.tree.root.kernels(), grace)

    def owned_records(self) -> list[KernelRecord]:
        """Every kernel record whose process silik may still have to kill (safe to
        call from another thread: each dict is copied in one step)."""
        return [*self.records.copy().values(), *self.stopping.copy().values()]

    # -- execution ---------------------------------------------------------
    async def begin_execute(
        self,
        path: str,
        code: str,
        options: ExecuteOptions | None = None,
        *,
        late: Sink | None = None,
    ) -> Execution:
        """Send ``code`` to the kernel at ``path`` now; read the run with
        :meth:`Execution.drain`. A death names the kernel."""
        rec = self.record(path)
        sub = self.subkernel(path)
        await sub.wait_restarted()
        return self.begin_execute_now(rec, sub, code, options, late=late)

    def begin_execute_now(
        self,
        rec: KernelRecord,
        sub: SubKernel,
        code: str,
        options: ExecuteOptions | None = None,
        *,
        late: Sink | None = None,
    ) -> Execution:
        """:meth:`begin_execute` for a kernel that is not restarting."""
        run = sub.begin_execute(code, options, late=late)
        where = rec.entry.path  # a stopped kernel leaves the tree: its path goes with it

        def describe_death(reason: str) -> str:
            if reason == STOPPED_REASON:
                return stopped_elsewhere(where)
            return self.died_message(rec, reason)

        run.describe_death = describe_death
        return run

    def take_restart_notice(self, path: str) -> str | None:
        """Once after an automatic restart: tell the user the state was lost."""
        rec = self.record(path)
        if rec.sub is not None and rec.sub.restarted_unseen and rec.status != "dead":
            rec.sub.restarted_unseen = False
            return f"{rec.entry.path} was restarted automatically after it died: its variables and imports are gone."
        return None

    async def info(self, path: str) -> dict[str, Any]:
        rec = self.record(path)
        info: dict[str, Any] = {
            "path": rec.entry.path,
            "kernelspec": rec.spec_name,
            "status": rec.status,
            "owned": bool(rec.sub and rec.sub.owned),
            "started_by": rec.started_by,
            "pid": rec.sub.pid if rec.sub else None,
            "connection_file": rec.sub.connection_file if rec.sub else "",
            "kernel_info": {},
        }
        if rec.remote_host:
            from silik_kernel.subkernels.gateway.remote import RemoteSubKernel

            info["remote_host"] = rec.remote_host
            if isinstance(rec.sub, RemoteSubKernel):
                info["gateway_url"] = rec.sub.gateway.config.url
                info["remote_kernel_id"] = rec.sub.remote_id
        if rec.sub is not None and rec.status != "dead":
            try:
                reply = await rec.sub.request("kernel_info_request", {}, timeout=3)
                info["kernel_info"] = reply["content"]
                rec.sub.kernel_info = reply["content"]
            except SilikError:
                info["kernel_info"] = rec.sub.kernel_info
        elif rec.sub is not None:
            info["kernel_info"] = rec.sub.kernel_info
            info["dead_reason"] = rec.sub.dead_reason
        return info

    def connect_info(self, path: str) -> dict[str, Any]:
        rec = self.record(path)
        if rec.sub is None:
            raise SilikError(f"{rec.entry.path} is still starting", hint="try again in a moment")
        info = dict(rec.sub.connection_info)
        if isinstance(info.get("key"), bytes):
            info["key"] = info["key"].decode()
        info["connection_file"] = rec.sub.connection_file
        return info

    async def history(self, path: str, *, output: bool = False, n: int = 10) -> list[tuple]:
        """The last ``n`` inputs of the kernel's own session, oldest first.

        A "tail" request would read IPython's history database, which every
        kernel and notebook of the user shares; a "range" of session 0 is what
        this kernel ran since it started.
        """
        if n < 1:
            raise SilikError(
                f"cannot show {n} history entries", hint="ask for 1 or more, e.g. `-n 10`"
            )
        sub = self.subkernel(path)
        reply = await sub.request(
            "history_request",
            {
                "output": output,
                "raw": True,
                "hist_access_type": "range",
                "session": 0,
                "start": 1,
                "stop": None,
            },
        )
        return [tuple(h) for h in reply["content"].get("history", [])[-n:]]

    # -- tree operations ---------------------------------------------------
    def mkdir(self, path: str, parents: bool = False) -> Folder:
        return self.tree.mkdir(path, parents)

    def cd(self, path: str | None) -> Folder:
        return self.tree.cd(path)

    async def rm(self, path: str, recursive: bool = False) -> list[str]:
        """Remove a kernel (stopping it) or a folder (``recursive`` if not empty)."""
        node = self.tree.resolve(path)
        if node is self.tree.root:
            raise SilikError("cannot remove ~", hint=None)
        if isinstance(node, KernelEntry):
            await self._stop_entries([node])
            return [node.path] if node.parent else [path]
        kernels = node.kernels()
        if node.children and not recursive:
            raise SilikError(
                f"{node.path} is not empty",
                hint=f"`rm -r {path}` removes it and stops the {len(kernels)} kernel(s) inside",
            )
        removed = [k.path for k in kernels]
        self.tree.remove(node)
        await self._stop_entries(kernels)
        return removed

    def mv(self, src: str, dst: str) -> Folder | KernelEntry:
        return self.tree.move(src, dst)
