"""KernelStarter: new kernels into the tree, from a kernelspec or a connection file.

A kernelspec starts a kernel on this machine or on a Jupyter Kernel/Enterprise
Gateway; a connection file attaches a kernel someone else started. A call is all
or nothing: every name is checked before anything starts, and when one kernel of
a call fails to start the others are stopped and their names freed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from jupyter_client.kernelspec import KernelSpecManager

from silik_kernel.cleanup import finish_cleanup
from silik_kernel.errors import SilikError
from silik_kernel.kernelspecs import SpecInfo, find_kernelspec, label_stem
from silik_kernel.records import KernelRecord
from silik_kernel.subkernels.gateway.settings import configured_gateway_url
from silik_kernel.subkernels.subkernel import SubKernel
from silik_kernel.tree import Folder, KernelEntry, Tree, extension_for_language

if TYPE_CHECKING:
    from silik_kernel.subkernels.gateway.client import Gateway, GatewayRegistry

log = logging.getLogger("silik.manager")

Launched = SubKernel | BaseException


MAX_START_COUNT = 64
"""Kernels one start may ask for: each is a process, and more would swamp a machine."""


def looks_like_connection_file(kernel: str) -> bool:
    """Whether ``new KERNEL`` names a connection file rather than a kernelspec."""
    return kernel.endswith(".json") or "/" in kernel or os.sep in kernel


class KernelStarter:
    """Starts or attaches kernels and files them in ``tree`` and ``records``.

    ``adopt`` is called with every SubKernel that joins the tree; ``child_env`` is
    called for each local kernel, just before it launches, with its kernelspec,
    kernel id and owner, and returns the variables that kernel gets.
    """

    def __init__(
        self,
        tree: Tree,
        records: dict[str, KernelRecord],
        ksm: KernelSpecManager,
        *,
        adopt: Callable[[SubKernel], None],
        child_env: Callable[[SpecInfo, str, str], dict[str, str]],
    ) -> None:
        self.tree = tree
        self.records = records
        self.ksm = ksm
        self._adopt = adopt
        self._child_env = child_env
        self._gateways: GatewayRegistry | None = None

    @property
    def gateways(self) -> GatewayRegistry:
        """Gateway clients, imported on first use (jupyter_server and tornado are heavy)."""
        if self._gateways is None:
            from silik_kernel.subkernels.gateway.client import GatewayRegistry

            self._gateways = GatewayRegistry()
        return self._gateways

    async def start(
        self,
        kernel: str,
        labels: list[str] | None,
        *,
        where: Folder,
        count: int = 1,
        started_by: str = "user",
        owner: str = "",
        env: dict[str, str] | None = None,
        gateway: str | None = None,
        local: bool = False,
    ) -> list[KernelEntry]:
        """The entries of the kernels started (see :meth:`SilikManager.start`)."""
        if gateway is not None and local:
            raise SilikError("give either a gateway or local, not both", hint=None)
        if looks_like_connection_file(kernel):
            if gateway is not None:
                raise SilikError(
                    "a connection file is attached on this machine; --gateway starts a kernelspec on a gateway",
                    hint=None,
                )
            if (labels and len(labels) > 1) or count != 1:
                raise SilikError("attach one connection file at a time", hint=None)
            label = labels[0] if labels else None
            return [await self._attach(kernel, label, where, started_by, owner)]
        spec, gw = await self._resolve_spec(kernel, gateway, local)
        ext = extension_for_language(spec.language)
        labels = self._labels(where, spec, ext, labels, count)
        records = self._reserve(where, labels, ext, spec.name, started_by, gw.host if gw else "")
        model = self._agent_model(spec.name) if spec.agent and gw is None else None
        for rec in records:
            rec.owner = owner
            rec.agent, rec.model = spec.agent, model
        launches = self._launch(spec, gw, env, len(records), owner)
        try:
            results = await asyncio.gather(*launches, return_exceptions=True)
        except asyncio.CancelledError:
            # Interrupted: undone as a failed start is, whatever each launch had reached.
            await finish_cleanup(self._undo_interrupted(records, launches))
            raise
        self._adopt_started(records, results)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            await finish_cleanup(self._roll_back(records))
            if isinstance(failure, SilikError):
                raise failure
            raise SilikError(
                f"kernel {spec.name} failed to start: {failure}", hint=None
            ) from failure
        return [rec.entry for rec in records]

    async def _resolve_spec(
        self, kernel: str, gateway: str | None, local: bool
    ) -> tuple[SpecInfo, Gateway | None]:
        """The kernelspec to start, and the gateway to start it on (None: here).

        Without ``gateway`` the session's gateway (SILIK_GATEWAY_URL) is used,
        unless ``local``; its errors then say how to start the kernel here instead.
        """
        if gateway is None and (local or not configured_gateway_url()):
            return find_kernelspec(self.ksm, kernel), None
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
        return SpecInfo(remote.name, remote.display_name, remote.language), gw

    def _agent_model(self, spec_name: str) -> str | None:
        """The model an agent kernel's config names (pydantic is imported for agents only)."""
        from silik_kernel.agent_policy import model_of_spec

        return model_of_spec(self.ksm.get_kernel_spec(spec_name), spec_name)

    def _labels(
        self, where: Folder, spec: SpecInfo, ext: str, labels: list[str] | None, count: int
    ) -> list[str]:
        """The labels given, or ``count`` free ones made from the language."""
        if labels and count not in (1, len(labels)):
            raise SilikError("give either labels or a count, not both", hint=None)
        if max(count, len(labels or ())) > MAX_START_COUNT:
            raise SilikError(
                f"at most {MAX_START_COUNT} kernels start at once",
                hint="start them in several steps",
            )
        if not labels:
            stem = label_stem(spec)
            taken: set[str] = set()
            labels = []
            for _ in range(count):
                label = self.tree.unique_label(where, stem, ext, taken)
                taken.add(label)
                labels.append(label)
        if len(set(labels)) != len(labels):
            raise SilikError("the same label is given twice", hint=None)
        return labels

    def _reserve(
        self,
        where: Folder,
        labels: list[str],
        ext: str,
        spec_name: str,
        started_by: str,
        remote_host: str,
    ) -> list[KernelRecord]:
        """Put every name in the tree (which validates all of them) before anything
        starts; each gets a record with no SubKernel yet, status "starting"."""
        entries: list[KernelEntry] = []
        try:
            for label in labels:
                entries.append(self.tree.add_kernel(where, label, ext, kernel_id=""))
        except SilikError:
            for entry in entries:
                self.tree.remove(entry)
            raise
        records = []
        for entry in entries:
            rec = KernelRecord(entry, spec_name, started_by, remote_host=remote_host)
            entry.kernel_id = f"starting:{id(rec)}"
            self.records[entry.kernel_id] = rec
            records.append(rec)
        return records

    def _launch(
        self, spec: SpecInfo, gw: Gateway | None, env: dict[str, str] | None, n: int, owner: str
    ) -> list[asyncio.Task[SubKernel]]:
        """Start ``n`` kernels concurrently, a task each.

        Tasks of our own, not gather's: when the start is interrupted, the kernels
        that were already up are in their results, to be stopped.
        """
        kernel_ids = [uuid.uuid4().hex for _ in range(n)]
        if gw is None:
            launches = [
                self._start_local(
                    spec.name,
                    env={**self._child_env(spec, kernel_id, owner), **(env or {})},
                    kernel_id=kernel_id,
                )
                for kernel_id in kernel_ids
            ]
        else:
            from silik_kernel.subkernels.gateway.remote import RemoteSubKernel

            launches = [
                RemoteSubKernel.launch(
                    gw, spec.name, language=spec.language, env=env, kernel_id=kernel_id
                )
                for kernel_id in kernel_ids
            ]
        return [asyncio.ensure_future(launch) for launch in launches]

    async def _undo_interrupted(
        self, records: list[KernelRecord], launches: list[asyncio.Task[SubKernel]]
    ) -> None:
        """Let every launch end (a cancelled one stops what it started), then stop
        the kernels that were up and free every name."""
        for launch in launches:
            launch.cancel()
        await asyncio.wait(launches)
        results: list[Launched] = [
            asyncio.CancelledError() if t.cancelled() else (t.exception() or t.result())
            for t in launches
        ]
        self._adopt_started(records, results)
        await self._roll_back(records)

    def _adopt_started(self, records: list[KernelRecord], results: list[Launched]) -> None:
        """File each started SubKernel under its own kernel id, in place of its placeholder."""
        for rec, result in zip(records, results, strict=True):
            del self.records[rec.entry.kernel_id]
            if isinstance(result, SubKernel):
                self._adopt(result)
                if rec.agent:
                    result.report_replies_to(rec.note_agent_reply)
                rec.sub = result
                rec.entry.kernel_id = result.kernel_id
                self.records[result.kernel_id] = rec

    async def _roll_back(self, records: list[KernelRecord]) -> None:
        """Stop the kernels of a call that failed and free their names."""
        await asyncio.gather(
            *(r.sub.shutdown(now=True) for r in records if r.sub is not None),
            return_exceptions=True,
        )
        for rec in records:
            self.records.pop(rec.entry.kernel_id, None)
            self.tree.remove(rec.entry)

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
        self, connection_file: str, label: str | None, where: Folder, started_by: str, owner: str
    ) -> KernelEntry:
        """Attach the running kernel of ``connection_file``, once."""
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
        self.records[sub.kernel_id] = KernelRecord(entry, "(attached)", started_by, owner, sub)
        return entry
