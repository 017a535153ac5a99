"""Replies wired to real ZMQ sockets, for tests of what a cell sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import zmq
from jupyter_client.session import Session

from silik_kernel.kernel.replies import Replies
from silik_kernel.protocol.wire import signer


class Stream:
    """What Replies needs of ipykernel's shell stream: a socket, and no queued sends."""

    def __init__(self, socket: zmq.Socket) -> None:
        self.socket = socket

    def sending(self) -> bool:
        return False


@dataclass
class Wired:
    session: Session
    replies: Replies
    shell: zmq.Socket  # the frontend's end of the shell socket
    published: list[list[bytes]] = field(default_factory=list)  # IOPub, as sent


@contextmanager
def wired_replies(name: str) -> Iterator[Wired]:
    ctx = zmq.Context()
    shell_out, shell_in = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    shell_out.bind(f"inproc://{name}")
    shell_in.connect(f"inproc://{name}")
    session = Session(key=b"k")
    published: list[list[bytes]] = []
    replies = Replies(
        session,
        signer(session),
        Stream(shell_out),
        None,
        published.append,
        lambda: None,
        lambda t: f"kernel.x.{t}".encode(),
    )
    try:
        yield Wired(session, replies, shell_in, published)
    finally:
        shell_out.close(0)
        shell_in.close(0)
        ctx.term()
