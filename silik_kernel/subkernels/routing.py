"""The one place where a kernel's messages find the request they answer.

Every message of every channel carries its request's id in ``parent_header``;
:class:`MessageRouter` hands it to the sink registered for that id when the
request was sent. A finished request keeps a late sink for a while, so output of
its background threads still reaches the cell that started them.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from silik_kernel.protocol.wire import loads, state_of
from silik_kernel.subkernels.execution import KernelDeath, Message, RawSink, Sink

log = logging.getLogger("silik.subkernel")

LATE_SINKS = 2048  # finished requests whose late output is still routed to their cell


@lru_cache(maxsize=256)  # a cell's id is quoted when it is sent and when it is done
def quoted_id(msg_id: str) -> bytes:
    """``msg_id`` as it appears in a JSON header."""
    return json.dumps(msg_id).encode()


class MessageRouter:
    """The sinks of one kernel's requests, by msg_id, and the execution state its
    statuses report.

    Two kinds of sink: a :data:`Sink` gets decoded messages; a :data:`RawSink` (a
    request relayed frame for frame) gets the frames as the kernel signed them.
    ``raw`` is keyed by the quoted msg_id so that the reader can find a relayed
    request's messages in the parent header's bytes without decoding them.
    """

    def __init__(self) -> None:
        self.execution_state = "starting"
        self.on_unrouted: Sink | None = None  # iopub/comm traffic nobody asked for
        #: every execute_reply's metadata, whoever sent the request (set for agent
        #: kernels only: their replies carry their usage)
        self.on_reply_metadata: Callable[[dict[str, Any]], None] | None = None
        self.sinks: OrderedDict[str, Sink] = OrderedDict()
        self.late: OrderedDict[str, Sink] = OrderedDict()
        self.raw: dict[bytes, RawSink] = {}  # by the request's msg_id, as a JSON string
        self.raw_late: OrderedDict[str, RawSink] = OrderedDict()

    # -- registering -----------------------------------------------------------
    def expect(self, msg_id: str, sink: Sink) -> None:
        """Every later message whose parent is ``msg_id`` goes to ``sink``."""
        self.sinks[msg_id] = sink

    def waits_for(self, msg_id: str) -> bool:
        return msg_id in self.sinks

    def forget(self, msg_id: str, late: Sink | None = None) -> None:
        """The request is done; its later messages go to ``late`` (or nowhere)."""
        self.sinks.pop(msg_id, None)
        if late is not None:
            _keep(self.late, msg_id, late)

    def expect_raw(self, msg_id: str, sink: RawSink) -> None:
        self.raw[quoted_id(msg_id)] = sink

    def forget_raw(self, msg_id: str, late: RawSink | None = None) -> None:
        self.raw.pop(quoted_id(msg_id), None)
        if late is not None:
            _keep(self.raw_late, msg_id, late)

    def fail_pending(self, reason: str) -> None:
        """Tell every request still waiting that the kernel died (or was stopped)."""
        died = KernelDeath(reason)
        for sink in list(self.sinks.values()):
            try:
                sink("died", died)  # type: ignore[arg-type]
            except Exception:
                log.exception("failing a pending request")
        self.sinks.clear()
        for raw in list(self.raw.values()):
            try:
                raw("died", died, [])
            except Exception:
                log.exception("failing a pending request")
        self.raw.clear()

    # -- the per-message path ----------------------------------------------------
    def to_raw(self, raw: RawSink, channel: str, msg_type: str, parts: list[bytes]) -> None:
        if msg_type == "status" and channel == "iopub":
            self.execution_state = state_of(parts[4])
        elif channel == "shell" and self.on_reply_metadata is not None:
            if msg_type == "execute_reply":
                self._reply_metadata(loads(parts[3]))
        raw(channel, msg_type, parts)

    def route(self, channel: str, msg: Message) -> None:
        parent = msg.get("parent_header") or {}
        if msg["header"]["msg_type"] == "status" and channel == "iopub":
            self._note_status(parent, msg["content"])
        elif channel == "shell" and self.on_reply_metadata is not None:
            if msg["header"]["msg_type"] == "execute_reply":
                self._reply_metadata(msg.get("metadata"))
        parent_id = parent.get("msg_id")
        sink = self.sinks.get(parent_id) if parent_id else None
        if sink is None and parent_id:
            sink = self.late.get(parent_id)
        if sink is not None:
            sink(channel, msg)
        elif self.on_unrouted is not None and channel == "iopub":
            self.on_unrouted(channel, msg)

    def _reply_metadata(self, metadata: Any) -> None:
        if isinstance(metadata, dict) and self.on_reply_metadata is not None:
            try:
                self.on_reply_metadata(metadata)
            except Exception:
                log.exception("reading an execute_reply's metadata")

    def _note_status(self, parent: dict[str, Any], content: dict[str, Any]) -> None:
        # Busy means running code: kernel_info or completion requests do not count.
        # Statuses without a parent are the kernel's own (starting, a gateway's restarting).
        if parent.get("msg_type") in (None, "execute_request"):
            self.execution_state = content.get("execution_state", self.execution_state)


def _keep(late: OrderedDict[str, Any], msg_id: str, sink: Any) -> None:
    """Route a finished request's late output to ``sink``, for the last LATE_SINKS ones."""
    late[msg_id] = sink
    while len(late) > LATE_SINKS:
        late.popitem(last=False)
