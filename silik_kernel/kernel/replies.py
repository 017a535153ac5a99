"""What silik's kernel sends its frontend, and the one way a cell ends.

:class:`Replies` signs and sends on the shell and IOPub sockets at once (a
sub-kernel's messages as they came, re-signed; silik's own). :class:`CellEnd`
is a cell's execute_reply and idle, sent exactly once: by the cell's task when
it finishes, or, for a cell that is one `run` line, from the callbacks that
bring its kernel's reply and idle (the reply is built when the kernel's reply
arrives and leaves with the kernel's idle, without waiting for the task to
unwind through the command layers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import zmq
from jupyter_client.session import Session

from silik_kernel.kernel.iopub import DirectIOPub
from silik_kernel.protocol.messages import RELAYED_IOPUB
from silik_kernel.protocol.wire import DELIM, Signer, send_frames
from silik_kernel.subkernels.execution import Message


class Replies:
    """Signs and sends silik's messages: replies on the shell socket, the rest on IOPub."""

    def __init__(
        self,
        session: Session,
        signer: Signer,
        shell_stream: Any,
        iopub_socket: Any,
        publish_now: Callable[[list[bytes]], None],
        flush_iopub: Callable[[], None],
        base_topic: Callable[[str], bytes],
    ) -> None:
        self.session = session
        self.signer = signer
        self.shell_stream = shell_stream
        self.iopub_socket = iopub_socket
        self.publish_now = publish_now
        self.flush_iopub = flush_iopub
        self._base_topic = base_topic
        #: sending on the shell socket can spend the read signal of a request
        #: arriving at that moment: the shell reader looks again
        self.after_send: Callable[[], None] = lambda: None
        self._topics: dict[str, bytes] = {}

    @classmethod
    def of_sockets(
        cls,
        session: Session,
        signer: Signer,
        shell_stream: Any,
        iopub_thread: Any,
        iopub_socket: Any,
        base_topic: Callable[[str], bytes],
    ) -> Replies:
        """Sending through silik's own IOPub (at once, no thread hop) when the app
        gave it one, through ipykernel's IOPub socket otherwise."""
        if isinstance(iopub_thread, DirectIOPub):
            publish_now, flush = iopub_thread.send_now, iopub_thread.flush
        else:
            publish_now, flush = iopub_socket.send_multipart, lambda: None
        return cls(session, signer, shell_stream, iopub_socket, publish_now, flush, base_topic)

    def topic(self, msg_type: str) -> bytes:
        """ipykernel's IOPub topic for ``msg_type``, built once per type."""
        found = self._topics.get(msg_type)
        if found is None:
            found = self._topics[msg_type] = self._base_topic(msg_type)
        return found

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any],
        *,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        self.session.send(
            self.iopub_socket,
            msg_type,
            content,
            parent=parent,
            metadata=metadata or {},
            buffers=buffers or None,
            ident=self.topic(msg_type),
        )

    def publish_raw(self, msg_type: str, parts: list[bytes]) -> None:
        """Publish a sub-kernel's message as it came, signed with our key."""
        signature = self.signer.sign(parts[1:5])
        # At once: the sub-kernel's order and timing, not one turn of the loop later.
        self.publish_now([self.topic(msg_type), DELIM, signature, *parts[1:]])

    def reply_raw(self, idents: list[bytes], parts: list[bytes]) -> None:
        """Send a sub-kernel's reply as it came, signed with our key, to ``idents``."""
        self.send_reply([*idents, DELIM, self.signer.sign(parts[1:5]), *parts[1:]])

    def send_reply(self, frames: list[Any]) -> None:
        """Send a reply on the shell socket now, after the output published before it."""
        self.flush_iopub()
        stream = self.shell_stream
        if stream.sending():  # replies queued before it go first
            stream.send_multipart(frames)
            stream.flush(zmq.POLLOUT)
            return
        send_frames(stream.socket, frames)  # a ROUTER never blocks
        self.after_send()


class CellEnd:
    """A cell's execute_reply and idle, sent once.

    The cell's task calls :meth:`send` with its reply. A cell that is one `run`
    line also hands this object to its run (as its ``early_end``): :meth:`prepare`
    builds the reply when the kernel's reply arrives, :meth:`finish` sends it when
    the kernel's idle does; the task's own :meth:`send` then does nothing.
    """

    __slots__ = (
        "replies",
        "idents",
        "request",
        "metadata",
        "reply_for",
        "finish_metadata",
        "before_send",
        "sent",
        "_ready",
    )

    def __init__(
        self,
        replies: Replies,
        idents: list[bytes],
        request: dict[str, Any],
        metadata: dict[str, Any],
        *,
        reply_for: Callable[[dict[str, Any]], dict[str, Any] | None],
        finish_metadata: Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], dict[str, Any]],
        before_send: Callable[[dict[str, Any], dict[str, Any]], None],
    ) -> None:
        self.replies = replies
        self.idents = idents
        self.request = request
        self.metadata = metadata
        #: the cell's reply for its run's reply content (None: leave it to the task)
        self.reply_for = reply_for
        #: the reply's metadata, from (request, metadata, reply), as ipykernel's
        self.finish_metadata = finish_metadata
        #: called with (request, reply) just before the reply leaves: after a failed
        #: cell, the cells waiting behind it are aborted before the frontend can
        #: send one on seeing this cell end
        self.before_send = before_send
        self.sent: dict[str, Any] | None = None
        self._ready: tuple[dict[str, Any], list[bytes], list[bytes]] | None = None

    def prepare(self, reply_msg: Message) -> None:
        if self.sent is not None:
            return
        reply = self.reply_for(reply_msg["content"])
        if reply is not None:
            self._ready = (reply, *self._frames(reply))

    def finish(self, pending: Sequence[tuple[str, Message]], reply_msg: Message) -> bool:
        if self.sent is not None:
            return False
        for channel, msg in pending:
            if channel != "iopub" or msg["header"]["msg_type"] in RELAYED_IOPUB:
                return False  # output the reader has yet to forward (its execute_input is not)
        if self._ready is None:
            self.prepare(reply_msg)
            if self._ready is None:
                return False
        self._send(*self._ready)
        return True

    def send(self, reply: dict[str, Any]) -> None:
        """The cell's reply and idle, unless its run already sent them."""
        if self.sent is None:
            self._send(reply, *self._frames(reply))

    def _frames(self, reply: dict[str, Any]) -> tuple[list[bytes], list[bytes]]:
        session = self.replies.session
        metadata = self.finish_metadata(self.request, self.metadata, reply)
        msg = session.msg("execute_reply", reply, self.request, metadata=metadata)
        idle = session.msg("status", {"execution_state": "idle"}, self.request)
        return (
            session.serialize(msg, ident=self.idents),
            session.serialize(idle, ident=self.replies.topic("status")),
        )

    def _send(self, reply: dict[str, Any], reply_frames: list[bytes], idle: list[bytes]) -> None:
        self.sent = reply
        self.before_send(self.request, reply)
        self.replies.send_reply(reply_frames)
        self.replies.publish_now(idle)  # the frontend waits for this one
