"""SilikManager: the tree plus the sub-kernels, with every operation by path.

This is the one API that the commands, the kernel, the bridge and the agent
tools call. It never formats text for humans and never touches the frontend's
sockets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from silik_kernel.errors import KernelDiedError, SilikError
from silik_kernel.subkernels.execution import ExecuteOptions, Execution, Message, Sink
from silik_kernel.subkernels.gateway.settings import configured_gateway_url
from silik_kernel.subkernels.subkernel import SubKernel
from silik_kernel.tree import Folder, KernelEntry, Tree, extension_for_language

if TYPE_CHECKING:
    from silik_kernel.subkernels.gateway.client import GatewayRegistry

log = logging.getLogger("silik.manager")


@dataclass(frozen=True)
class SpecInfo:
    name: str
    display_name: str
    language: str


@dataclass
class KernelRecord:
    """What the manager knows about one kernel besides its place in the tree."""

    entry: KernelEntry
    spec_name: str
    started_by: str = "user"
    sub: SubKernel | None = None  # None while starting
    remote_host: str = ""  # host:port of the gateway that runs it; "" for local kernels

    @property
    def status(self) -> str:
        if self.sub is None:
            return "starting"
        if self.sub.dead_reason and self.sub.execution_state != "restarting":
            return "dead"
        return self.sub.execution_state


class SilikManager:
    """Sub-kernels in a folder tree. Async methods run on the kernel's event loop."""

    def __init__(
        self,
        kernel_spec_manager: KernelSpecManager | None = None,
        child_env: dict[str, str] | None = None,
    ) -> None:
        self.tree = Tree()
        self.ksm = kernel_spec_manager or KernelSpecManager()
        self.child_env = child_env or {}  # e.g. the bridge address for agent kernels
        self.records: dict[str, KernelRecord] = {}
        # (kernel_id, channel, msg) for traffic no request of ours caused, e.g. widget updates
        self.on_unrouted: Callable[[str, str, Message], None] | None = None
        # Called before kernels start, e.g. to serve the bridge whose address goes in child_env.
        self.prepare_children: Callable[[], None] | None = None
        # Jupyter Kernel/Enterprise Gateways: SILIK_GATEWAY_URL is the session's default.
        self._gateways: GatewayRegistry | None = None

    # -- kernelspecs -------------------------------------------------------
    @property
    def gateways(self) -> GatewayRegistry:
        """Gateway clients, imported on first use (jupyter_server and tornado are heavy)."""
        if self._gateways is None:
            from silik_kernel.subkernels.gateway.client import GatewayRegistry

            self._gateways = GatewayRegistry()
        return self._gateways

    def session_gateway(self) -> str | None:
        """The session's default gateway URL, if any (read without importing the
        gateway client)."""
        return configured_gateway_url()

    async def remote_kernelspecs(self, gateway: str | None = None) -> tuple[str, list[SpecInfo]]:
        """The gateway's host and kernelspecs (None: the session's gateway)."""
        gw = await self.gateways.get(gateway)
        specs = await gw.kernelspecs()
        return gw.host, [SpecInfo(s.name, s.display_name, s.language) for s in specs]

    def kernelspecs(self) -> list[SpecInfo]:
        specs = self.ksm.get_all_specs()
        out = []
        for name, info in sorted(specs.items()):
            spec = info.get("spec", {})
            out.append(SpecInfo(name, spec.get("display_name", name), spec.get("language", "")))
        return out

    def spec(self, name: str) -> SpecInfo:
        try:
            spec = self.ksm.get_kernel_spec(name)
        except NoSuchKernel:
            import difflib

            names = [s.name for s in self.kernelspecs()]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]}?" if close else f"installed: {', '.join(names)}"
            raise SilikError(f"unknown kernelspec {name!r}", hint=hint) from None
        return SpecInfo(name, spec.display_name, spec.language)

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
            raise KernelDiedError(self.died_message(rec, rec.sub.dead_reason or "it is dead"))
        return rec.sub

    def died_message(self, rec: KernelRecord, reason: str) -> str:
        path = rec.entry.path if rec.entry.parent else rec.entry.name
        if rec.sub is not None and not rec.sub.owned:
            return f"kernel {path} is gone: {reason}. It was attached, so restart it where it was started, then `rm {path}`."
        if rec.remote_host:
            return f"kernel {path} is unavailable: {reason}. Type `restart {path}` for a fresh kernel on the gateway, or `rm {path}`."
        return f"kernel {path} died: {reason}. Type `restart {path}` for a fresh kernel, or `rm {path}`."

    def path_of(self, kernel_id: str) -> str:
        return self.records[kernel_id].entry.path

    # -- starting ----------------------------------------------------------
    async def start(
        self,
        kernel: str,
        labels: list[str] | None = None,
        *,
        count: int = 1,
        folder: str | None = None,
        started_by: str = "user",
        env: dict[str, str] | None = None,
        gateway: str | None = None,
        local: bool = False,
    ) -> list[KernelEntry]:
        """Start (or attach, when ``kernel`` is a connection file) kernels concurrently.

        All or nothing: names are checked before anything starts, and if one
        kernel fails to start the others of the same call are stopped.
        ``gateway`` (a URL or a name from silik_gateway.json) starts them on a
        Jupyter Kernel/Enterprise Gateway; without it the session's gateway
        (SILIK_GATEWAY_URL) is used, unless ``local``.
        """
        where = self.tree.folder(folder) if folder else self.tree.cwd
        if gateway is not None and local:
            raise SilikError("give either a gateway or local, not both", hint=None)
        if _looks_like_connection_file(kernel):
            if gateway is not None:
                raise SilikError(
                    "a connection file is attached on this machine; --gateway starts a kernelspec on a gateway",
                    hint=None,
                )
            if (labels and len(labels) > 1) or count != 1:
                raise SilikError("attach one connection file at a time", hint=None)
            return [await self._attach(kernel, labels[0] if labels else None, where, started_by)]
        gw = None
        if gateway is not None or (not local and self.session_gateway()):
            try:
                gw = await self.gateways.get(gateway)
                remote = await gw.spec(kernel)
            except SilikError as exc:
                if gateway is not None:
                    raise
                local_hint = f"`new {kernel} --local` starts it on this machine"
                raise SilikError(
                    exc.message, hint=f"{exc.hint}; {local_hint}" if exc.hint else local_hint
                ) from None
            spec = SpecInfo(remote.name, remote.display_name, remote.language)
        else:
            spec = self.spec(kernel)
        ext = extension_for_language(spec.language)
        if labels and count not in (1, len(labels)):
            raise SilikError("give either labels or a count, not both", hint=None)
        if not labels:
            stem = _label_stem(spec)
            taken: set[str] = set()
            labels = []
            for _ in range(count):
                label = self.tree.unique_label(where, stem, ext, taken)
                taken.add(label)
                labels.append(label)
        if len(set(labels)) != len(labels):
            raise SilikError("the same label is given twice", hint=None)
        # Reserve every name first (validates all of them) so nothing starts on bad input.
        entries: list[KernelEntry] = []
        try:
            for label in labels:
                entry = self.tree.add_kernel(where, label, ext, kernel_id="")
                entries.append(entry)
        except SilikError:
            for entry in entries:
                self.tree.remove(entry)
            raise
        records = []
        for entry in entries:
            rec = KernelRecord(entry, spec.name, started_by, remote_host=gw.host if gw else "")
            entry.kernel_id = f"starting:{id(rec)}"
            self.records[entry.kernel_id] = rec
            records.append(rec)
        if self.prepare_children is not None:
            self.prepare_children()
        child_env = {**self.child_env, **(env or {})}
        if gw is not None:
            from silik_kernel.subkernels.gateway.remote import RemoteSubKernel
        results = await asyncio.gather(
            *(
                self._start_local(
                    spec.name,
                    # Each child knows its own id: the bridge uses it to name the caller.
                    env={**child_env, "SILIK_KERNEL_ID": kernel_id},
                    kernel_id=kernel_id,
                )
                if gw is None
                else RemoteSubKernel.launch(
                    gw, spec.name, language=spec.language, env=env, kernel_id=kernel_id
                )
                for kernel_id in (uuid.uuid4().hex for _ in entries)
            ),
            return_exceptions=True,
        )
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        for rec, result in zip(records, results, strict=True):
            del self.records[rec.entry.kernel_id]
            if isinstance(result, SubKernel):
                self._adopt(result)
                rec.sub = result
                rec.entry.kernel_id = result.kernel_id
                self.records[result.kernel_id] = rec
        if failure is not None:
            await asyncio.gather(
                *(r.sub.shutdown(now=True) for r in records if r.sub is not None),
                return_exceptions=True,
            )
            for rec in records:
                self.records.pop(rec.entry.kernel_id, None)
                self.tree.remove(rec.entry)
            if isinstance(failure, SilikError):
                raise failure
            raise SilikError(
                f"kernel {spec.name} failed to start: {failure}", hint=None
            ) from failure
        return entries

    async def _start_local(
        self, spec_name: str, *, env: dict[str, str], kernel_id: str
    ) -> SubKernel:
        """SubKernel.start, tried again when the kernel lost a port race.

        jupyter_client picks free ports before the kernel binds them; when many
        kernels start at once another process can take one in between.
        """
        for attempt in range(3):
            try:
                return await SubKernel.start(
                    spec_name, kernel_spec_manager=self.ksm, env=env, kernel_id=kernel_id
                )
            except SilikError as exc:
                if "Address already in use" not in exc.message or attempt == 2:
                    raise
                log.warning("kernel %s lost a port race; starting it again", spec_name)
        raise AssertionError("unreachable")

    async def _attach(
        self, connection_file: str, label: str | None, where: Folder, started_by: str
    ) -> KernelEntry:
        path = os.path.expanduser(connection_file)
        for rec in self.records.values():
            if rec.sub is not None and rec.sub.connection_file == os.path.abspath(path):
                raise SilikError(
                    f"already attached as {rec.entry.path}",
                    hint=f"connect with `> {rec.entry.path}`",
                )
        sub = await SubKernel.attach(path)
        self._adopt(sub)
        try:
            lang = sub.kernel_info.get("language_info", {})
            ext = lang.get("file_extension") or extension_for_language(lang.get("name", ""))
            if not ext.startswith("."):
                ext = "." + ext
            if label is None:
                stem = (lang.get("name") or "kernel")[:6].lower()
                label = self.tree.unique_label(where, stem, ext, set())
            entry = self.tree.add_kernel(where, label, ext, sub.kernel_id)
        except BaseException:
            await sub.close()
            raise
        self.records[sub.kernel_id] = KernelRecord(entry, "(attached)", started_by, sub)
        return entry

    def _adopt(self, sub: SubKernel) -> None:
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

    async def _stop_entries(self, entries: list[KernelEntry]) -> None:
        recs = [self.records.pop(e.kernel_id) for e in entries if e.kernel_id in self.records]
        for e in entries:
            if e.parent is not None:
                self.tree.remove(e)
        await asyncio.gather(*(self._stop_record(r) for r in recs))

    async def _stop_record(self, rec: KernelRecord) -> None:
        if rec.sub is None:
            return
        try:
            if rec.sub.owned:
                await rec.sub.shutdown()
            else:
                await rec.sub.close()
        except Exception:
            log.exception("stopping %s", rec.entry.name)

    async def restart(self, path: str) -> KernelEntry:
        rec = self.record(path)
        if rec.sub is None:
            raise SilikError(f"{rec.entry.path} is still starting", hint="try again in a moment")
        await rec.sub.restart()
        return rec.entry

    async def interrupt(self, path: str) -> None:
        await self.subkernel(path).interrupt()

    async def shutdown_all(self) -> None:
        await self._stop_entries(self.tree.root.kernels())

    # -- execution ---------------------------------------------------------
    async def execute(
        self,
        path: str,
        code: str,
        options: ExecuteOptions | None = None,
        *,
        late: Sink | None = None,
    ) -> AsyncIterator[tuple[str, Message]]:
        """``SubKernel.execute`` on the kernel at ``path``; a death names the kernel."""
        run = await self.begin_execute(path, code, options, late=late)
        try:
            async for item in run:
                yield item
        finally:
            run.close()

    async def begin_execute(
        self,
        path: str,
        code: str,
        options: ExecuteOptions | None = None,
        *,
        late: Sink | None = None,
    ) -> Execution:
        """Send ``code`` to the kernel at ``path`` now; iterate the result for its
        messages (as :meth:`execute`)."""
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
        run.describe_death = lambda reason: self.died_message(rec, reason)
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
        sub = self.subkernel(path)
        reply = await sub.request(
            "history_request",
            {"output": output, "raw": True, "hist_access_type": "tail", "n": n},
        )
        return [tuple(h) for h in reply["content"].get("history", [])]

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


def _looks_like_connection_file(kernel: str) -> bool:
    return kernel.endswith(".json") or "/" in kernel or os.sep in kernel


def _label_stem(spec: SpecInfo) -> str:
    lang = (spec.language or spec.name).lower()
    stem = "".join(c for c in lang if c.isalnum())[:6] or "k"
    return {"python": "py"}.get(stem, stem)
