"""The bridge: an agent kernel acts on its parent silik's tree, authenticated and
held to its policy; no other kernel can."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
import time

import pytest
import zmq
import zmq.asyncio
from conftest import KernelDriver

from silik_kernel.agent_policy import SilikSettings
from silik_kernel.bridge import BridgeClient, BridgeInfo, BridgeRequest, BridgeServer, _sign
from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.manager import SilikManager
from silik_kernel.service import ManagerService, ServiceError


def q(code: str) -> str:
    """Quote code for a silik command line (double quotes; \\ and \" escaped)."""
    return '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def agent_silik(tmp_path):
    """A silik that can start `pyagent`: a python kernel whose kernelspec is marked
    as an agent's, so it gets bridge credentials, with a policy in its config file."""
    spec_dir = tmp_path / "share" / "jupyter" / "kernels" / "pyagent"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "python marked as an agent",
        "language": "python",
        "metadata": {"silik_agents": {"target": "tests:none"}},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    config = tmp_path / "config" / "silik_agents" / "pyagent.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[silik]\nsilik_commands = ["ls", "mkdir", "info", "history"]\n')
    env = {
        **os.environ,
        "JUPYTER_PATH": str(tmp_path / "share" / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    driver = KernelDriver("silik", env=env)
    try:
        yield driver
    finally:
        driver.shutdown()


CLIENT = (
    "from silik_kernel.bridge import BridgeClient\n"
    "import os, json\n"
    "bc = BridgeClient.from_env()\n"
    "print('bridge', bc is not None)\n"
)


def test_agent_uses_parent_tree_while_parent_relays(agent_silik):
    """An agent kernel calls the bridge in the very cell its parent is relaying: no deadlock."""
    silik = agent_silik
    silik.ok("new pyagent -l child")
    assert "bridge True" in silik.ok(f"run {q(CLIENT)} child.py").stdout
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


def test_agent_is_held_to_its_policy_and_plain_kernels_get_no_credentials(agent_silik):
    silik = agent_silik
    silik.ok("new python3 -l victim\nnew pyagent -l child")
    # a plain kernel has no bridge credentials: the variable is there, blanked
    plain = silik.ok(
        "run \"import os; print(repr(os.environ.get('SILIK_BRIDGE_FILE')))\" victim.py"
    )
    assert plain.stdout == "''\n"
    silik.ok(f"run {q(CLIENT)} child.py")
    code = (
        "from silik_kernel.service import ServiceError\n"
        "async def attempt(op, **args):\n"
        "    try:\n"
        "        print(op, 'ok', await bc.call(op, args))\n"
        "    except ServiceError as e:\n"
        "        print(op, e.kind, e.message)\n"
        "await attempt('stop_kernel', path='~/victim.py')\n"
        "await attempt('kernel_history', path='~/victim.py')\n"
        "await attempt('silik', command='info ~/victim.py')\n"
        "await attempt('silik', command='history ~/*.py')\n"
        "await attempt('silik', command='rm ~/victim.py')\n"
        "await attempt('silik', command='ls ~')\n"
        "await attempt('stop_kernel', path='~/nope.py')\n"
    )
    out = silik.ok(f"run {q(code)} child.py").stdout
    assert "stop_kernel denied ~/victim.py was started by user, not by you" in out
    assert "kernel_history denied ~/victim.py was started by user" in out
    assert "silik denied ~/victim.py was started by user, not by you" in out  # info
    # a glob names every kernel it matches: here the agent itself too, started by user
    assert "silik denied ~/child.py was started by user, not by you" in out
    assert "silik denied the silik command 'rm' is not allowed for you" in out
    assert "silik ok" in out and "victim.py" in out  # ls is allowed and lists everything
    assert "stop_kernel invalid no such kernel or folder: ~/nope.py" in out
    assert silik.ok('run "print(1)" victim.py').stdout == "1\n"


@pytest.mark.parametrize("timeout", [1])
def test_run_code_timeout_interrupts_and_keeps_partial_output(agent_silik, timeout):
    silik = agent_silik
    silik.ok("new pyagent -l child")
    silik.ok(f"run {q(CLIENT)} child.py")
    code = (
        "await bc.call('start_kernel', {'kernelspec': 'python3', 'label': 'slow'})\n"
        "code = 'import time\\nprint(\"before\", flush=True)\\ntime.sleep(30)'\n"
        f"events = [e async for e in bc.stream('run_code', {{'path': 'slow.py', 'code': code, 'timeout': {timeout}}})]\n"
        "result = events[-1]['data']\n"
        "print('timed_out', result['timed_out'], result['ename'], result['seconds'] < 10)\n"
        "print('texts', [e['content'].get('text') for e in events if e.get('kind') == 'output' and e['msg_type'] == 'stream'])\n"
    )
    res = silik.ok(f"run {q(code)} child.py", timeout=60)
    assert "timed_out True KeyboardInterrupt True" in res.stdout
    assert "before" in res.stdout


# -- the bridge itself, served in this process ------------------------------------
@pytest.fixture
async def served(tmp_path):
    """A bridge with credentials for two agent identities (two real kernels)."""
    manager = SilikManager()
    bridge = BridgeServer(ManagerService(manager, BUILTIN_COMMANDS), str(tmp_path / "runtime"))
    bridge.start()
    try:
        a, b = await manager.start("python3", ["a", "b"])
        files = [bridge.issue(e.kernel_id, SilikSettings()) for e in (a, b)]
        infos = []
        for path in files:
            with open(path) as f:
                infos.append(BridgeInfo.model_validate_json(f.read()))
        yield manager, bridge, files, infos
    finally:
        await bridge.stop()
        await manager.shutdown_all()


async def _exchange(url: str, frames: list[bytes], wait: float = 0.5) -> list[bytes] | None:
    sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(url)
    try:
        await sock.send_multipart(frames)
        if await sock.poll(int(wait * 1000)):
            return await sock.recv_multipart()
        return None
    finally:
        sock.close(linger=0)


async def test_bridge_is_a_private_socket_file_and_credentials_are_private(served):
    _manager, bridge, files, infos = served
    assert bridge.url.startswith("ipc://")  # no port: nothing listens on the network
    assert stat.S_IMODE(os.stat(bridge.dir).st_mode) == 0o700
    for path in files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert infos[0].key != infos[1].key  # each agent kernel its own


async def test_forged_replayed_nan_stamped_and_borrowed_requests_are_refused_and_logged(
    served, caplog
):
    _manager, bridge, _files, (a, b) = served
    key_a, id_a, id_b = a.key.encode(), a.kernel_id.encode(), b.kernel_id.encode()

    def payload(ts: object = None) -> bytes:
        return json.dumps(
            {
                "id": os.urandom(8).hex(),
                "ts": time.time() if ts is None else ts,
                "op": "list_kernelspecs",
            }
        ).encode()

    good = payload()
    caplog.set_level(logging.WARNING, logger="silik.bridge")
    answer = await _exchange(bridge.url, [id_a, _sign(key_a, good), good])
    assert answer is not None and b"python3" in answer[1]
    refused = {
        "replayed": [id_a, _sign(key_a, good), good],
        "unsigned": [id_a, b"", payload()],
        "forged": [id_a, _sign(b"guessed key", (p := payload())), p],
        "another kernel's key": [id_b, _sign(key_a, (p := payload())), p],
        "unknown kernel": [b"nobody", _sign(key_a, (p := payload())), p],
        "no kernel id": [_sign(key_a, (p := payload())), p],
        "NaN": [id_a, _sign(key_a, (p := payload(float("nan")))), p],
        "infinite": [id_a, _sign(key_a, (p := payload(float("inf")))), p],
        "a string": [id_a, _sign(key_a, (p := payload(str(time.time())))), p],
        "stale": [id_a, _sign(key_a, (p := payload(time.time() - 3600))), p],
    }
    for what, frames in refused.items():
        assert await _exchange(bridge.url, frames, wait=0.3) is None, what
    assert bridge.rejected == len(refused)
    logged = [r.getMessage() for r in caplog.records if r.name == "silik.bridge"]
    assert len(logged) == len(refused) and all("refused" in m for m in logged)
    # a good client still works afterwards
    client = BridgeClient(a)
    try:
        specs = await client.call("list_kernelspecs", {})
        assert any(s["name"] == "python3" for s in specs)
    finally:
        await client.close()


async def test_a_kernels_credentials_end_with_it(served):
    manager, bridge, files, (a, _b) = served
    await manager.stop(["~/a.py"])
    req = BridgeRequest(op="list_tree").model_dump_json().encode()
    frames = [a.kernel_id.encode(), _sign(a.key.encode(), req), req]
    assert await _exchange(bridge.url, frames) is None
    assert not os.path.exists(files[0])  # refused once, and its file is gone


async def test_a_borrowed_key_acts_only_as_its_kernel(served):
    """Whoever holds a kernel's key (code that read its file) is that kernel, policy and all."""
    manager, _bridge, _files, (a, _b) = served
    await manager.start("python3", ["victim"])
    client = BridgeClient(a)
    try:
        with pytest.raises(ServiceError, match="not by you"):
            await client.call("stop_kernel", {"path": "~/victim.py"})
    finally:
        await client.close()
    assert "victim.py" in manager.tree.root.children


async def test_only_the_kernel_that_sent_a_request_can_cancel_it(served):
    """A cancel names a request id: another kernel's key cannot stop it."""
    _manager, bridge, _files, (a, b) = served
    client_a, client_b = BridgeClient(a), BridgeClient(b)
    try:
        await client_a.call("start_kernel", {"kernelspec": "python3", "label": "mine"})
        code = "import time; time.sleep(1.0); print('finished')"
        events = client_a.stream("run_code", {"path": "~/mine.py", "code": code}, timeout=30)
        first = asyncio.ensure_future(events.__anext__())
        for _ in range(500):  # at most 5 s for the request to arrive
            if bridge._running:
                break
            await asyncio.sleep(0.01)
        [req_id] = list(bridge._running)
        client_b._ensure()
        await client_b._post(BridgeRequest(op="cancel", args={"request": req_id}))
        await asyncio.sleep(0.2)
        assert req_id in bridge._running  # still running: b's word does not count
        got = [await first] + [e async for e in events]
        assert got[-1]["data"]["status"] == "ok" and "finished" in str(got)
    finally:
        await client_a.close()
        await client_b.close()
