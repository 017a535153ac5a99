"""Reference relays: what any process between a client and a kernel costs here.

Not silik. The benchmark times these beside silik's connect mode, in the same
rounds, so silik's ratio can be read against the price of the extra hop itself
on the machine at hand (a wake-up of each process and ZMQ thread on the way):

- ``CProxy``: libzmq's own proxy (``zmq.proxy``) on every channel, in threads of
  the benchmark process. No Python runs per message: the floor of any relay.
- ``PythonRelay``: a process with one asyncio loop that checks each message's
  signature and signs it again with the other side's key (the client and the
  kernel have different keys, as with silik), routing replies by their parent's
  msg_id. The least a relay written in Python does.

Each starts its own python3 kernel; ``client()`` gives a jupyter_client client
of the relay, ``close()`` stops everything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from typing import Any

import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
DELIM = b"<IDS|MSG>"


def _start_kernel() -> tuple[KernelManager, dict[str, Any]]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    return km, km.get_connection_info(session=False)


def _connection(kernel: dict[str, Any], ports: dict[str, int], key: str) -> dict[str, Any]:
    info = {k: v for k, v in kernel.items() if not k.endswith("_port")}
    info.update({f"{name}_port": port for name, port in ports.items()})
    info["key"] = key
    return info


def _client(info: dict[str, Any], timeout: float) -> BlockingKernelClient:
    kc = BlockingKernelClient()
    kc.load_connection_info(info)
    kc.start_channels()
    kc.wait_for_ready(timeout=timeout)
    return kc


class CProxy:
    """zmq.proxy per channel between a client and its own python3 kernel (same key)."""

    def __init__(self) -> None:
        self.km, kernel = _start_kernel()
        self.ctx = zmq.Context()
        ports: dict[str, int] = {}
        self._threads = []
        for name in CHANNELS:
            front_type, back_type = (
                (zmq.XPUB, zmq.XSUB) if name == "iopub" else (zmq.ROUTER, zmq.DEALER)
            )
            front = self.ctx.socket(front_type)
            ports[name] = front.bind_to_random_port("tcp://127.0.0.1")
            back = self.ctx.socket(back_type)
            back.connect(f"tcp://127.0.0.1:{kernel[name + '_port']}")
            thread = threading.Thread(target=self._proxy, args=(front, back), daemon=True)
            thread.start()
            self._threads.append(thread)
        key = kernel["key"].decode() if isinstance(kernel["key"], bytes) else kernel["key"]
        self.info = _connection(kernel, ports, key)

    @staticmethod
    def _proxy(front: zmq.Socket, back: zmq.Socket) -> None:
        try:
            zmq.proxy(front, back)
        except zmq.ContextTerminated:
            pass
        finally:
            front.close(linger=0)
            back.close(linger=0)

    def client(self, timeout: float) -> BlockingKernelClient:
        return _client(self.info, timeout)

    def close(self) -> None:
        self.ctx.term()  # ends every proxy (they close their sockets)
        for thread in self._threads:
            thread.join(timeout=5)
        self.km.shutdown_kernel(now=True)


class PythonRelay:
    """A minimal asyncio relay in its own process (see the module docstring)."""

    def __init__(self) -> None:
        self.km, kernel = _start_kernel()
        key = uuid.uuid4().hex  # the client's key; the relay signs with the kernel's for it
        config = {
            "kernel": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in kernel.items()}
        }
        config["front_key"] = key
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        # The relay ends when its stdin closes: with this process, however it ends.
        self.proc = subprocess.Popen(
            [sys.executable, __file__, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        os.unlink(path)
        if not line:
            self.km.shutdown_kernel(now=True)
            raise RuntimeError("the Python relay did not start")
        self.info = _connection(kernel, json.loads(line), key)

    def client(self, timeout: float) -> BlockingKernelClient:
        return _client(self.info, timeout)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.km.shutdown_kernel(now=True)


# -- the relay process ----------------------------------------------------------------
def _signer(key: str) -> Any:
    base = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def sign(parts: list[bytes]) -> bytes:
        h = base.copy()
        for part in parts:
            h.update(part)
        return h.hexdigest().encode()

    return sign


def _serve(config_path: str) -> None:
    import asyncio

    with open(config_path) as f:
        config = json.load(f)
    kernel = config["kernel"]
    front_sign, back_sign = _signer(config["front_key"]), _signer(kernel["key"])
    ctx = zmq.Context()
    ports: dict[str, int] = {}

    def bind(kind: int, name: str) -> zmq.Socket:
        sock = ctx.socket(kind)
        ports[name] = sock.bind_to_random_port("tcp://127.0.0.1")
        return sock

    def connect(kind: int, name: str) -> zmq.Socket:
        sock = ctx.socket(kind)
        sock.connect(f"tcp://127.0.0.1:{kernel[name + '_port']}")
        return sock

    shell, iopub = bind(zmq.ROUTER, "shell"), bind(zmq.PUB, "iopub")
    k_shell, k_iopub = connect(zmq.DEALER, "shell"), connect(zmq.SUB, "iopub")
    k_iopub.setsockopt(zmq.SUBSCRIBE, b"")
    # stdin, control and heartbeat are not timed: plain C proxies
    for name in ("stdin", "control", "hb"):
        front, back = bind(zmq.ROUTER, name), connect(zmq.DEALER, name)
        threading.Thread(target=zmq.proxy, args=(front, back), daemon=True).start()

    senders: dict[str, list[bytes]] = {}  # request msg_id -> the client's identities

    def checked(frames: list[bytes], verify: Any, sign: Any) -> tuple[int, list[bytes]] | None:
        i = frames.index(DELIM)
        parts = frames[i + 2 : i + 6]
        if not hmac.compare_digest(frames[i + 1], verify(parts)):
            return None
        return i, [DELIM, sign(parts), *frames[i + 2 :]]

    def on_shell(frames: list[bytes]) -> None:
        got = checked(frames, front_sign, back_sign)
        if got is not None:
            i, msg = got
            senders[json.loads(frames[i + 2])["msg_id"]] = frames[:i]
            k_shell.send_multipart(msg)

    def on_kernel_shell(frames: list[bytes]) -> None:
        got = checked(frames, back_sign, front_sign)
        if got is not None:
            i, msg = got
            idents = senders.pop(json.loads(frames[i + 3]).get("msg_id"), None)
            if idents is not None:
                shell.send_multipart([*idents, *msg])

    def on_kernel_iopub(frames: list[bytes]) -> None:
        got = checked(frames, back_sign, front_sign)
        if got is not None:
            i, msg = got
            iopub.send_multipart([*frames[:i], *msg])

    handlers = {shell: on_shell, k_shell: on_kernel_shell, k_iopub: on_kernel_iopub}
    loop = asyncio.new_event_loop()

    def drain(sock: zmq.Socket) -> None:
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            handlers[sock](sock.recv_multipart())
        # a send may have taken another socket's edge-triggered signal: look again
        for other in handlers:
            if other is not sock and other.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                loop.call_soon(drain, other)

    for sock in handlers:
        loop.add_reader(sock.getsockopt(zmq.FD), drain, sock)

    def parent_gone() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=parent_gone, daemon=True).start()
    print(json.dumps(ports), flush=True)
    loop.run_forever()


if __name__ == "__main__":
    _serve(sys.argv[1])
