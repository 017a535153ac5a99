"""An agent kernel started by an agent gets bridge credentials too, held to a policy
never broader than its starter's."""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import KernelDriver


def q(code: str) -> str:
    return '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _agent_spec(root, name: str) -> None:
    """A python kernel whose kernelspec is marked as an agent's."""
    spec_dir = root / "share" / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"{name}: python marked as an agent",
        "language": "python",
        "metadata": {"silik_agents": {"target": "tests:none"}},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


@pytest.fixture
def lead_silik(tmp_path):
    """`lead` may start python3 and `helper`, two kernels, and run `ls`; `helper`'s
    own config allows anything."""
    for name in ("lead", "helper"):
        _agent_spec(tmp_path, name)
    config = tmp_path / "config" / "silik_agents"
    config.mkdir(parents=True)
    (config / "lead.toml").write_text(
        '[silik]\nallowed_kernelspecs = ["python3", "helper"]\nmax_kernels = 2\n'
        'silik_commands = ["ls"]\nmax_depth = 1\n'
    )
    (config / "helper.toml").write_text(
        '[silik]\nmax_kernels = 8\nsilik_commands = ["ls", "tree", "info"]\n'
        'require_approval = ["run_code"]\n'
    )
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
    "from silik_kernel.service import ServiceError\n"
    "bc = BridgeClient.from_env()\n"
    "print('bridge', bc is not None)\n"
    "async def attempt(op, **args):\n"
    "    try:\n"
    "        print(op, 'ok', await bc.call(op, args))\n"
    "    except ServiceError as e:\n"
    "        print(op, e.kind, e.message)\n"
)


def test_an_agent_started_by_an_agent_uses_the_tree_within_its_starters_policy(lead_silik):
    silik = lead_silik
    silik.ok("new lead -l boss")
    assert "bridge True" in silik.ok(f"run {q(CLIENT)} boss.py").stdout
    start = "await attempt('start_kernel', kernelspec='helper', label='aide')"
    started = silik.ok(f"run {q(start)} boss.py", timeout=60)
    assert "start_kernel ok {'path': '~/aide.py'}" in started.stdout
    assert "bridge True" in silik.ok(f"run {q(CLIENT)} aide.py").stdout
    code = (
        "await attempt('list_tree')\n"
        "await attempt('silik', command='tree')\n"
        "await attempt('start_kernel', kernelspec='lead', label='x')\n"
        "for label in ('one', 'two', 'three'):\n"
        "    await attempt('start_kernel', kernelspec='python3', label=label)\n"
    )
    out = silik.ok(f"run {q(code)} aide.py", timeout=60).stdout
    assert "list_tree ok" in out and "~/boss.py" in out  # the same tree as its starter
    assert "silik denied the silik command 'tree' is not allowed for you; allowed: ls" in out
    assert "start_kernel denied you may not start 'lead'; allowed: python3, helper" in out
    assert "start_kernel ok {'path': '~/one.py'}" in out
    assert "start_kernel ok {'path': '~/two.py'}" in out
    assert "your limit of 2" in out  # its own config says 8, its starter's 2


def test_a_narrowed_policy_allows_what_both_allow():
    from silik_kernel.agent_policy import SilikSettings, narrowed

    own = SilikSettings(
        allowed_kernelspecs=None,
        silik_commands=["ls", "tree"],
        max_kernels=8,
        max_depth=3,
        require_approval=["run_code"],
        use_other_kernels=True,
    )
    starter = SilikSettings(
        allowed_kernelspecs=["python3"],
        silik_commands=["ls"],
        max_kernels=2,
        max_depth=1,
        require_approval=["stop_kernel"],
    )
    child = narrowed(own, starter)
    assert child.allowed_kernelspecs == ["python3"] and child.silik_commands == ["ls"]
    assert (child.max_kernels, child.max_depth) == (2, 1)
    assert child.require_approval == ["run_code", "stop_kernel"]
    assert child.use_other_kernels is False
