"""Sub-kernels' output to the frontend, and comms (widgets) in both directions.

A widget lives in one sub-kernel but is shown by silik's frontend, and keeps
working after `/cmd`: each comm is routed to the kernel at its other end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from silik_kernel.errors import SilikError
from silik_kernel.kernel.replies import Replies
from silik_kernel.manager import SilikManager
from silik_kernel.protocol.messages import NUMBERED, RELAYED_IOPUB, renumbered
from silik_kernel.subkernels.execution import Message
from silik_kernel.subkernels.subkernel import SubKernel


class CommRouter:
    """Forwards sub-kernels' IOPub messages and routes comm messages by comm id."""

    def __init__(
        self,
        manager: SilikManager,
        replies: Replies,
        connected: Callable[[], str | None],
        count: Callable[[], int] = lambda: 0,
    ) -> None:
        self.manager = manager
        self.replies = replies
        self.connected = connected  # the connected kernel's id, if any
        self.count = count  # silik's execution count: the prompt number results show
        self.kernels: dict[str, str] = {}  # comm_id -> kernel_id at the other end

    def forward(self, msg: Message, parent: dict[str, Any], kernel_id: str | None = None) -> None:
        """A sub-kernel's output or comm message, to our frontend under ``parent``.

        Status and execute_input are the cell's own and are not forwarded; a
        result shows silik's count (the sub-kernel's own goes in its metadata).
        """
        msg_type = msg["header"]["msg_type"]
        if msg_type not in RELAYED_IOPUB:
            return
        content = msg.get("raw_content") or msg["content"]
        metadata = msg.get("metadata")
        if msg_type in NUMBERED and "execution_count" in msg["content"]:
            content, metadata = renumbered(msg["content"], metadata, self.count())
        elif kernel_id is not None and msg_type.startswith("comm_"):
            self.track(msg_type, msg["content"], kernel_id)
        self.replies.publish(
            msg_type, content, parent, metadata=metadata, buffers=msg.get("buffers")
        )

    def late_sink(self, parent: dict[str, Any], kernel_id: str) -> Callable[[str, Message], None]:
        """Where a run's output after its end goes (threads, timers): its cell."""

        def late(channel: str, msg: Message) -> None:
            if channel == "iopub":
                self.forward(msg, parent, kernel_id)

        return late

    def unrouted(self, kernel_id: str, channel: str, msg: Message) -> None:
        """A message no request asked for: the connected kernel's, or a comm's."""
        if channel != "iopub":
            return
        content = msg.get("content")
        comm_id = content.get("comm_id") if isinstance(content, dict) else None
        if kernel_id == self.connected() or self.kernels.get(comm_id or "") == kernel_id:
            self.forward(msg, {}, kernel_id)

    def track(self, msg_type: str, content: dict[str, Any], kernel_id: str) -> None:
        """Remember which sub-kernel is the other end of each comm."""
        comm_id = content.get("comm_id")
        if not isinstance(comm_id, str):
            return
        if msg_type == "comm_close":
            self.kernels.pop(comm_id, None)
        else:
            self.kernels[comm_id] = kernel_id

    def subkernel(self, kernel_id: str) -> SubKernel | None:
        rec = self.manager.records.get(kernel_id)
        if rec is None or rec.sub is None or rec.status == "dead":
            return None
        return rec.sub

    async def info(self, content: dict[str, Any]) -> dict[str, Any]:
        """The comms of the connected kernel, and of every kernel a frontend holds comms with."""
        kernel_ids = set(self.kernels.values())
        connected = self.connected()
        if connected is not None:
            kernel_ids.add(connected)
        comms: dict[str, Any] = {}
        for kernel_id in sorted(kernel_ids):
            sub = self.subkernel(kernel_id)
            if sub is None:
                continue
            try:
                reply = await sub.request("comm_info_request", content, timeout=5)
            except SilikError:
                continue
            for comm_id, info in (reply["content"].get("comms") or {}).items():
                comms[comm_id] = info
                self.kernels[comm_id] = kernel_id
        return {"status": "ok", "comms": comms}

    def from_frontend(self, parent: dict[str, Any]) -> None:
        """A frontend's comm message goes to the sub-kernel at the other end of the
        comm, or (for a new comm) to the connected one. With no such kernel, a
        comm_open is refused with comm_close, as a kernel without that comm target
        would."""
        msg_type = parent["header"]["msg_type"]
        content = parent["content"]
        comm_id = content.get("comm_id") or ""
        kernel_id = self.kernels.get(comm_id) or self.connected()
        sub = self.subkernel(kernel_id) if kernel_id else None
        if sub is None:
            self.kernels.pop(comm_id, None)
            if msg_type == "comm_open":
                self.replies.publish("comm_close", {"comm_id": comm_id, "data": {}}, parent)
            return
        self.track(msg_type, content, sub.kernel_id)
        sent: list[str] = []

        def sink(channel: str, msg: Message) -> None:
            if channel != "iopub":
                return
            if msg["header"]["msg_type"] == "status":
                if msg["content"].get("execution_state") == "idle" and sent:
                    sub.forget(sent[0], late=sink)  # later output still routes, bounded
                return
            self.forward(msg, parent, sub.kernel_id)

        sent.append(
            sub.send(
                "shell",
                msg_type,
                content,
                sink=sink,
                metadata=parent.get("metadata"),
                buffers=[bytes(b) for b in parent.get("buffers") or []],
            )
        )
