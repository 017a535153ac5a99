"""Remote kernels on a real Jupyter Kernel Gateway, driven through silik.

Each gateway is a real ``jupyter kernelgateway`` process on 127.0.0.1 with a
token; its kernels are real ipykernels. One gateway and one silik kernel serve
most tests; the test that kills a gateway mid-cell gets a gateway of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import KernelDriver

from silik_kernel.commands.builtin import BUILTIN_COMMANDS
from silik_kernel.errors import SilikError
from silik_kernel.manager import SilikManager
from silik_kernel.service import ManagerService
from silik_kernel.subkernels.gateway.client import GatewayRegistry
from silik_kernel.subkernels.gateway.config import load_gateway_config
from silik_kernel.subkernels.gateway.remote import RemoteSubKernel

TOKEN = "gateway-test-token"
START_TIMEOUT = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """``jupyter kernelgateway`` on a free port, killed with all its kernels at the end."""

    def __init__(self, log_dir: Path, token: str = TOKEN) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.log_path = log_dir / f"gateway-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in kill()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SILIK_")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kernel_gateway",
                "--KernelGatewayApp.ip=127.0.0.1",
                f"--KernelGatewayApp.port={self.port}",
                "--KernelGatewayApp.port_retries=0",
                f"--KernelGatewayApp.auth_token={token}",
                "--JupyterWebsocketPersonality.list_kernels=True",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.get("/api/kernelspecs")
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"the gateway did not start: {self.log_path.read_text()}"
                    ) from None
                time.sleep(0.1)

    def get(self, path: str) -> object:
        req = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def kernel_ids(self) -> list[str]:
        return [k["id"] for k in self.get("/api/kernels")]  # type: ignore[union-attr]

    def kernel_pids(self) -> set[int]:
        try:
            return {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.Error:
            return set()

    def kill(self) -> None:
        """SIGKILL, as a crash would: the websockets drop without a goodbye."""
        kernels = self.kernel_pids()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for pid in kernels:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        psutil.wait_procs([p for p in map(_process, kernels) if p is not None], timeout=5)
        self._log.close()


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = GatewayProcess(tmp_path_factory.mktemp("gateway"))
    try:
        yield gw
    finally:
        gw.kill()


@pytest.fixture(scope="module")
def gateway_config(tmp_path_factory, gateway) -> Path:
    """A silik_gateway.json with a named entry whose token is wrong."""
    path = tmp_path_factory.mktemp("config") / "silik_gateway.json"
    path.write_text(json.dumps({"gateways": {"badtoken": {"url": gateway.url, "token": "wrong"}}}))
    return path


@pytest.fixture(scope="module")
def sk(gateway, gateway_config):
    """A silik kernel with the gateway token in its environment (no session gateway)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILIK_GATEWAY")}
    env["SILIK_GATEWAY_TOKEN"] = TOKEN
    env["SILIK_GATEWAY_CONFIG"] = str(gateway_config)
    driver = KernelDriver("silik", env=env)
    try:
        yield driver
    finally:
        driver.shutdown()


@pytest.fixture
def r1(sk, gateway):
    """``~/r1.py``: a python3 kernel on the gateway, stopped after the test."""
    res = sk.ok(f"new python3 -l r1 --gateway {gateway.url}")
    assert res.stdout == f"started ~/r1.py on the gateway at 127.0.0.1:{gateway.port}\n"
    yield "r1.py"
    sk.execute("/cmd")
    sk.execute("stop ~/r1.py")
    deadline = time.monotonic() + 10
    while gateway.kernel_ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gateway.kernel_ids() == [], "stop must shut the kernel down on the gateway"


def tree_text(sk) -> str:
    return sk.ok("tree").text


# -- listing and starting -------------------------------------------------------
def test_kernels_lists_the_gateway_kernelspecs(sk, gateway):
    res = sk.ok(f"kernels --gateway {gateway.url}")
    lines = res.text.splitlines()
    assert lines[0] == f"kernelspecs on the gateway at 127.0.0.1:{gateway.port}:"
    assert any(re.match(r"python3\s+Python 3 \(ipykernel\)\s+python$", ln) for ln in lines)


def test_run_info_and_tree_on_a_remote_kernel(sk, gateway, r1):
    res = sk.ok(f"run 'x = 6 * 7\nprint(x)\nx' {r1}")
    assert res.stdout == "42\n"
    assert res.of_type("execute_result")[0]["content"]["data"]["text/plain"] == "42"
    assert f"r1.py  [python3 idle remote:127.0.0.1:{gateway.port}]" in tree_text(sk)
    ls = sk.ok("ls").text.splitlines()
    assert ls[0].split() == ["name", "kernelspec", "status", "started", "by", "where"]
    assert ls[1].split() == ["r1.py", "python3", "idle", "user", f"remote:127.0.0.1:{gateway.port}"]
    info = sk.ok(f"info {r1}").text
    assert f"runs on:         gateway {gateway.url}" in info
    (remote_id,) = gateway.kernel_ids()
    assert f"remote id:       {remote_id}" in info
    assert re.search(r"^pid:\s+-$", info, re.M)
    assert re.search(r"^language:\s+python 3", info, re.M)
    res = sk.fails(f"run '1/0' {r1}")
    assert res.content["ename"] == "ZeroDivisionError"


def test_connect_mode_relays_everything(sk, r1):
    sk.ok(f"> {r1}")
    sk.ok("x = 5")
    assert sk.ok("print(x + 1)").stdout == "6\n"
    reply = sk.request("complete", "impo", 4)
    assert "import" in reply["content"]["matches"]
    reply = sk.request("inspect", "len", 3)
    assert reply["content"]["found"] is True
    # input() reaches this client's stdin channel and the answer goes back. (Read by
    # hand: jupyter_kernel_test's schema wrongly wants a number for `password`.)
    msg_id = sk.kc.execute("print('hi', input('name? '))", allow_stdin=True)
    request = sk.kc.get_stdin_msg(timeout=10)
    assert request["content"] == {"prompt": "name? ", "password": False}
    sk.kc.input("bob")
    res = sk.collect(msg_id)
    assert res.status == "ok" and res.stdout == "hi bob\n"
    # An interrupt from the frontend interrupts the remote kernel (REST /interrupt).
    t0 = time.monotonic()
    msg_id = sk.kc.execute("import time; time.sleep(30)")
    time.sleep(1)
    sk.km.interrupt_kernel()
    res = sk.collect(msg_id, timeout=10)
    assert res.status == "error" and res.content["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - t0 < 8
    assert sk.ok("print(x)").stdout == "5\n", "an interrupt keeps the state"
    assert "left ~/r1.py" in sk.ok("/cmd").stdout


def test_interrupt_a_run_then_restart_loses_state(sk, r1):
    sk.ok(f"run 'y = 1' {r1}")
    msg_id = sk.kc.execute(f"run 'import time; time.sleep(30)' {r1}")
    time.sleep(1)
    sk.km.interrupt_kernel()
    res = sk.collect(msg_id, timeout=10)
    assert res.content["ename"] == "KeyboardInterrupt"
    assert sk.ok(f"run 'print(y)' {r1}").stdout == "1\n"
    assert sk.ok(f"restart {r1}").stdout == "restarted ~/r1.py\n"
    res = sk.fails(f"run 'print(y)' {r1}")
    assert res.content["ename"] == "NameError"
    assert sk.ok(f"run 'print(2)' {r1}").stdout == "2\n"


def test_a_kernel_the_gateway_restarts_fails_its_cell_and_comes_back(sk, r1):
    sk.ok(f"run 'z = 3' {r1}")
    t0 = time.monotonic()
    res = sk.fails(f"run 'import os; os._exit(1)' {r1}", timeout=20)
    assert "the kernel died on the gateway. It is being restarted automatically" in res.text
    assert "Type `restart" not in res.text, "there is nothing to type: it comes back"
    assert time.monotonic() - t0 < 15
    deadline = time.monotonic() + 30
    while True:
        res = sk.execute(f"run 'print(4)' {r1}")
        if res.status == "ok":
            break
        assert time.monotonic() < deadline, res.text
        time.sleep(0.5)
    assert "was restarted automatically" in res.stderr
    assert sk.fails(f"run 'print(z)' {r1}").content["ename"] == "NameError"


# -- errors -----------------------------------------------------------------------
def test_wrong_token_is_a_clear_error_and_leaves_the_tree_alone(sk, gateway):
    before = tree_text(sk)
    t0 = time.monotonic()
    res = sk.fails("new python3 -l bad --gateway badtoken")
    assert f"the gateway at {gateway.url} refused the credentials (403" in res.text or (
        f"the gateway at {gateway.url} refused the credentials (401" in res.text
    )
    assert "SILIK_GATEWAY_TOKEN" in res.text
    res = sk.fails("kernels --gateway badtoken")
    assert "refused the credentials" in res.text
    assert time.monotonic() - t0 < 10
    assert tree_text(sk) == before
    assert gateway.kernel_ids() == []


def test_unreachable_gateway_and_unknown_kernelspec(sk, gateway):
    before = tree_text(sk)
    port = _free_port()
    t0 = time.monotonic()
    res = sk.fails(f"new python3 -l nowhere --gateway http://127.0.0.1:{port}")
    assert f"cannot reach the gateway at http://127.0.0.1:{port}" in res.text
    assert time.monotonic() - t0 < 10
    res = sk.fails(f"new pyhton3 -l typo --gateway {gateway.url}")
    assert f"unknown kernelspec 'pyhton3' on the gateway at 127.0.0.1:{gateway.port}" in res.text
    assert "did you mean python3?" in res.text
    res = sk.fails("new python3 -l x --gateway ftp://example.com")
    assert "unknown gateway" in res.text or "not an http" in res.text
    assert tree_text(sk) == before
    assert gateway.kernel_ids() == []


def test_gateway_killed_mid_cell(sk, tmp_path):
    doomed = GatewayProcess(tmp_path)
    try:
        sk.ok("new python3 -l loc")
        sk.ok(f"new python3 -l r2 --gateway {doomed.url}")
        assert sk.ok("run 'print(1)' r2.py").stdout == "1\n"
        msg_id = sk.kc.execute("run 'import time; time.sleep(60)' r2.py")
        time.sleep(1)
        t0 = time.monotonic()
        doomed.kill()
        res = sk.collect(msg_id, timeout=15)
        elapsed = time.monotonic() - t0
        assert res.status == "error"
        assert f"lost the connection to the gateway at 127.0.0.1:{doomed.port}" in res.text
        assert elapsed < 10, f"the cell failed only after {elapsed:.1f} s"
        # The local tree is unaffected.
        assert sk.ok("run 'print(2)' loc.py").stdout == "2\n"
        text = tree_text(sk)
        assert "loc.py  [python3 idle]" in text
        assert f"r2.py  [python3 dead remote:127.0.0.1:{doomed.port}]" in text
        res = sk.fails("run 'print(3)' r2.py")
        assert "lost the connection to the gateway" in res.text
        t0 = time.monotonic()
        assert sk.ok("stop r2.py loc.py").stdout == "stopped ~/r2.py, ~/loc.py\n"
        assert time.monotonic() - t0 < 10
    finally:
        doomed.kill()
        sk.execute("stop ~/r2.py ~/loc.py")


# -- the session's gateway and the agent toolset ------------------------------------
async def test_session_gateway_and_agent_operations(gateway, monkeypatch, tmp_path):
    monkeypatch.setenv("SILIK_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("SILIK_GATEWAY_TOKEN", TOKEN)
    monkeypatch.setenv("SILIK_GATEWAY_CONFIG", str(tmp_path / "none.json"))
    manager = SilikManager()
    service = ManagerService(manager, BUILTIN_COMMANDS)
    try:
        listing = await service.call("silik", {"command": "kernels"})
        assert re.search(rf"python3 .* remote:127\.0\.0\.1:{gateway.port}", listing)
        assert re.search(r"python3 .* local", listing)
        # Without --gateway, `new` uses the session's gateway; --local opts out.
        started = await service.call("start_kernel", {"kernelspec": "python3", "label": "a1"})
        assert started == {"path": "~/a1.py"}
        await manager.start("python3", ["l1"], local=True)
        tree = {t["path"]: t for t in await service.call("list_tree", {})}
        assert tree["~/a1.py"]["where"] == f"remote:127.0.0.1:{gateway.port}"
        assert tree["~/l1.py"]["where"] == "local"
        events = [
            e async for e in service.stream("run_code", {"path": "a1.py", "code": "print(7)"})
        ]
        assert events[0]["content"]["text"] == "7\n"
        assert events[-1]["data"]["status"] == "ok"
        # A run that outlives its timeout is interrupted on the gateway.
        events = [
            e
            async for e in service.stream(
                "run_code", {"path": "a1.py", "code": "import time; time.sleep(30)", "timeout": 1}
            )
        ]
        result = events[-1]["data"]
        assert result["timed_out"] is True and result["ename"] == "KeyboardInterrupt"
        assert "restarted" in await service.call("restart_kernel", {"path": "a1.py"})
        assert "stopped ~/a1.py" == await service.call("stop_kernel", {"path": "a1.py"})
        assert gateway.kernel_ids() == []
    finally:
        await manager.shutdown_all()


async def test_a_dropped_websocket_reconnects_and_the_cell_completes(gateway):
    """The gateway buffers what the kernel sends meanwhile and replays it on reconnect."""
    registry = GatewayRegistry(
        env={"SILIK_GATEWAY_TOKEN": TOKEN, "SILIK_GATEWAY_CONFIG": "/nonexistent/silik.json"}
    )
    sub = await RemoteSubKernel.launch(await registry.get(gateway.url), "python3")
    try:
        texts: list[str] = []

        async def run() -> str:
            code = "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b')"
            async for channel, msg in sub.execute(code):
                if msg["header"]["msg_type"] == "stream":
                    texts.append(msg["content"]["text"])
                elif channel == "shell":
                    return msg["content"]["status"]
            return "no reply"

        cell = asyncio.ensure_future(run())
        await asyncio.sleep(0.5)
        assert sub.websocket.ws is not None
        sub.websocket.ws.close()  # as a proxy or a network blip would
        assert await asyncio.wait_for(cell, 10) == "ok"
        assert "".join(texts) == "a\nb\n"
        assert sub.dead_reason is None
        replies = [m async for ch, m in sub.execute("print(5)") if ch == "shell"]
        assert replies[0]["content"]["status"] == "ok"
    finally:
        await sub.shutdown()


# -- configuration (no gateway needed) ------------------------------------------------
def test_gateway_settings_most_specific_wins(tmp_path):
    path = tmp_path / "silik_gateway.json"
    path.write_text(
        json.dumps(
            {
                "url": "https://eg.example.com/",
                "token": "file-token",
                "request_timeout": 60,
                "gateways": {
                    "lab": {"url": "http://lab:8888", "token": "lab-token"},
                    "http://other:8888": {"auth_scheme": "Bearer"},
                },
            }
        )
    )
    env = {"SILIK_GATEWAY_CONFIG": str(path)}
    # The file's url is the session's gateway, with the file's settings.
    cfg = load_gateway_config(None, env)
    assert (cfg.url, cfg.token, cfg.request_timeout) == ("https://eg.example.com", "file-token", 60)
    assert cfg.host == "eg.example.com" and cfg.websocket_base == "wss://eg.example.com"
    # The environment beats the file's top level ...
    env_token = {**env, "SILIK_GATEWAY_TOKEN": "env-token", "SILIK_GATEWAY_HEADERS": '{"X-A": "1"}'}
    cfg = load_gateway_config(None, env_token)
    assert cfg.token == "env-token" and cfg.headers == {"X-A": "1"}
    # ... and a named or per-URL entry beats both; top-level settings stay with their url.
    cfg = load_gateway_config("lab", env_token)
    assert (cfg.url, cfg.token, cfg.request_timeout) == ("http://lab:8888", "lab-token", 30)
    cfg = load_gateway_config("http://other:8888", env_token)
    assert (cfg.token, cfg.auth_scheme, cfg.headers) == ("env-token", "Bearer", {"X-A": "1"})
    # SILIK_GATEWAY_URL names the gateway the env token is for.
    env_url = {**env_token, "SILIK_GATEWAY_URL": "http://mine:8888"}
    assert load_gateway_config(None, env_url).token == "env-token"
    assert load_gateway_config("http://other:8888", env_url).token is None


@pytest.mark.parametrize(
    ("target", "env", "message"),
    [
        (None, {}, "no gateway is configured"),
        ("nickname", {}, "unknown gateway 'nickname'"),
        ("ftp://x", {}, "is not an http:// or https:// URL"),
        (
            "http://gw",
            {"SILIK_GATEWAY_HEADERS": "[1]"},
            "SILIK_GATEWAY_HEADERS must be a JSON object",
        ),
    ],
)
def test_gateway_settings_errors(tmp_path, target, env, message):
    env = {"SILIK_GATEWAY_CONFIG": str(tmp_path / "none.json"), **env}
    with pytest.raises(SilikError, match=re.escape(message)):
        load_gateway_config(target, env)
