"""The bridge: a child kernel acts on its parent silik's tree, authenticated."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest
import zmq
import zmq.asyncio

from silik_kernel.bridge import BridgeClient, BridgeInfo, BridgeRequest, _sign


def q(code: str) -> str:
    """Quote code for a silik command line (double quotes; \\ and \" escaped)."""
    return '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


CLIENT = (
    "from silik_kernel.bridge import BridgeClient\n"
    "import os, json\n"
    "bc = BridgeClient.from_env()\n"
    "print('bridge file', os.environ['SILIK_BRIDGE_FILE'])\n"
)


def test_child_uses_parent_tree_while_parent_relays(silik):
    """A sub-kernel calls the bridge in the very cell its parent is relaying: no deadlock."""
    silik.ok("new python3 -l child")
    silik.ok(f"run {q(CLIENT)} child.py")
    code = (
        "r = await bc.call('start_kernel', {'kernelspec': 'python3', 'label': 'calc', 'folder': '~/work'})\n"
        "print('started', r['path'])\n"
        "events = [e async for e in bc.stream('run_code', {'path': '~/work/calc.py', 'code': 'x = 6*7; print(x)'})]\n"
        "print('output', [e['content'].get('text') for e in events if e.get('kind') == 'output'])\n"
        "print('status', events[-1]['data']['status'])\n"
        "tree = await bc.call('list_tree', {})\n"
        "print('calc by', [t['started_by'] for t in tree if t['path'] == '~/work/calc.py'])\n"
    )
    res = silik.ok(f"run {q(code)} child.py", timeout=60)
    assert "started ~/work/calc.py" in res.stdout
    assert "output ['42\\n']" in res.stdout
    assert "status ok" in res.stdout
    assert "calc by ['~/child.py']" in res.stdout
    # The human sees the agent's kernel, and its variables.
    tree = silik.ok("tree").text
    assert "calc.py" in tree and "started by ~/child.py" in tree
    assert silik.ok('run "print(x)" work/calc.py').stdout == "42\n"


def test_errors_come_back_as_service_errors(silik):
    silik.ok("new python3 -l child")
    silik.ok(f"run {q(CLIENT)} child.py")
    code = (
        "from silik_kernel.service import ServiceError\n"
        "try:\n"
        "    await bc.call('stop_kernel', {'path': '~/nope.py'})\n"
        "except ServiceError as e:\n"
        "    print('error', e.kind, e.message)\n"
        "print(await bc.call('silik', {'command': 'ls'}))\n"
    )
    res = silik.ok(f"run {q(code)} child.py")
    assert "error invalid no such kernel or folder: ~/nope.py" in res.stdout
    assert "child.py" in res.stdout  # the ls output


def _bridge_info(silik) -> tuple[str, BridgeInfo]:
    res = silik.ok(
        "new python3 -l c\nrun \"import os; print(os.environ['SILIK_BRIDGE_FILE'])\" c.py"
    )
    path = res.stdout.strip().splitlines()[-1]
    with open(path) as f:
        return path, BridgeInfo.model_validate_json(f.read())


def test_bridge_file_is_private_and_loopback(silik):
    path, info = _bridge_info(silik)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert info.ip == "127.0.0.1"


async def _raw_exchange(
    info: BridgeInfo, frames: list[bytes], wait: float = 1.0
) -> list[bytes] | None:
    sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(info.url)
    try:
        await sock.send_multipart(frames)
        if await sock.poll(int(wait * 1000)):
            return await sock.recv_multipart()
        return None
    finally:
        sock.close(linger=0)


def test_unsigned_forged_and_replayed_requests_are_rejected(silik):
    _path, info = _bridge_info(silik)
    key = info.key.encode()

    async def scenario() -> None:
        req = BridgeRequest(op="list_kernelspecs").model_dump_json().encode()
        # unsigned and forged: no answer at all
        assert await _raw_exchange(info, [b"", req]) is None
        assert await _raw_exchange(info, [_sign(b"wrong key", req), req]) is None
        # a correctly signed request is answered...
        answer = await _raw_exchange(info, [_sign(key, req), req])
        assert answer is not None and b"python3" in answer[1]
        # ...once: the same bytes again are a replay
        assert await _raw_exchange(info, [_sign(key, req), req]) is None
        # a stale one is refused too
        old = BridgeRequest(op="list_kernelspecs", ts=time.time() - 3600).model_dump_json().encode()
        assert await _raw_exchange(info, [_sign(key, old), old]) is None
        # a good client still works afterwards
        client = BridgeClient(info)
        try:
            specs = await client.call("list_kernelspecs", {})
            assert any(s["name"] == "python3" for s in specs)
        finally:
            await client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("timeout", [1])
def test_run_code_timeout_interrupts_and_keeps_partial_output(silik, timeout):
    silik.ok("new python3 -l child\nnew python3 -l slow")
    silik.ok(f"run {q(CLIENT)} child.py")
    code = (
        "code = 'import time\\nprint(\"before\", flush=True)\\ntime.sleep(30)'\n"
        f"events = [e async for e in bc.stream('run_code', {{'path': 'slow.py', 'code': code, 'timeout': {timeout}}})]\n"
        "result = events[-1]['data']\n"
        "print('timed_out', result['timed_out'], result['ename'], result['seconds'] < 10)\n"
        "print('texts', [e['content'].get('text') for e in events if e.get('kind') == 'output' and e['msg_type'] == 'stream'])\n"
    )
    res = silik.ok(f"run {q(code)} child.py", timeout=60)
    assert "timed_out True KeyboardInterrupt True" in res.stdout
    assert "before" in res.stdout
