"""Reference relays: what any process between a client and a kernel costs here.

Not silik. The benchmark times these beside silik's connect mode, in the same
rounds, so silik's ratio can be read against the price of the extra hop itself
on the machine at hand (a wake-up of each process and ZMQ thread on the way):

- ``CProxy``: libzmq's own proxy (``zmq.proxy``) on every channel, in threads of
  a process of its own, as silik is. No Python runs per message: what the extra
  process and its ZMQ hops cost by themselves.
- ``PythonRelay``: a process with one asyncio loop that checks each message's
  signature and signs it again with the other side's key (the client and the
  kernel have different keys, as with silik), routing replies by their parent's
  msg_id. The least a relay written in Python does.

Each starts its own python3 kernel; ``client()`` gives a jupyter_client client
of the relay, ``close()`` stops everything. A relay process ends when its stdin
closes: with the benchmark, however that ends.
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


class _RelayProcess:
    """A relay run by this file in a child process (``mode``: "c" or "python")."""

    mode = ""

    def __init__(self) -> None:
        self.km, kernel = _start_kernel()
        kernel_key = kernel["key"].decode() if isinstance(kernel["key"], bytes) else kernel["key"]
        # The C proxy passes signatures through: its client has the kernel's key. The
        # Python relay re-signs: its client has a key of its own.
        key = kernel_key if self.mode == "c" else uuid.uuid4().hex
        config = {
            "kernel": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in kernel.items()},
            "front_key": key,
        }
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.mode, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        os.unlink(path)
        if not line:
            self.close()
            raise RuntimeError(f"the {type(self).__name__} relay did not start")
        self.info = _connection(kernel, json.loads(line), key)

    def client(self, timeout: float) -> BlockingKernelClient:
        return _client(self.info, timeout)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.km.shutdown_kernel(now=True)


class CProxy(_RelayProcess):
    """zmq.proxy per channel between a client and its own python3 kernel (same key)."""

    mode = "c"


class PythonRelay(_RelayProcess):
    """A minimal asyncio relay (see the module docstring)."""

    mode = "python"


# -- the relay process ----------------------------------------------------------------
def _signer(key: str) -> Any:
    base = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def sign(parts: list[bytes]) -> bytes:
        h = base.copy()
        for part in parts:
            h.update(part)
        return h.hexdigest().encode()

    return sign


def _until_parent_ends() -> None:
    sys.stdin.read()  # the benchmark closed it, or ended
    os._exit(0)


def _serve_c(config: dict[str, Any]) -> None:
    kernel = config["kernel"]
    ctx = zmq.Context()
    ports: dict[str, int] = {}
    for name in CHANNELS:
        front_type, back_type = (
            (zmq.XPUB, zmq.XSUB) if name == "iopub" else (zmq.ROUTER, zmq.DEALER)
        )
        front = ctx.socket(front_type)
        ports[name] = front.bind_to_random_port("tcp://127.0.0.1")
        back = ctx.socket(back_type)
        back.connect(f"tcp://127.0.0.1:{kernel[name + '_port']}")
        threading.Thread(target=zmq.proxy, args=(front, back), daemon=True).start()
    print(json.dumps(ports), flush=True)
    _until_parent_ends()


def _serve_python(config: dict[str, Any]) -> None:
    import asyncio

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

    threading.Thread(target=_until_parent_ends, daemon=True).start()
    print(json.dumps(ports), flush=True)
    loop.run_forever()


if __name__ == "__main__":
    with open(sys.argv[2]) as f:
        _config = json.load(f)
    (_serve_c if sys.argv[1] == "c" else _serve_python)(_config)
