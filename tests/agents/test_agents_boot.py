"""An agent kernel is ready before its agent (and pydantic-ai) is loaded.

`python -m silik_agents run TARGET` starts a BootKernel that answers at once and
imports the target in a thread; chat cells wait for it (silik_agents/boot.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from agents_fixtures.kernels import TESTS_DIR, AgentDriver, agent_prefix, final_display

from silik_agents.__main__ import main as agents_main


def _install(target: str, name: str, pythonpath: str) -> None:
    prefix = agent_prefix()
    if not (prefix / "share" / "jupyter" / "kernels" / name).exists():
        agents_main(
            ["install", target, "--name", name, "--prefix", str(prefix), "--no-check"]
            + ["--env", f"PYTHONPATH={pythonpath}"]
        )


def test_the_launch_path_does_not_import_pydantic_ai():
    code = (
        "import sys, silik_agents.app, silik_agents.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic_ai', 'logfire')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_kernel_info_while_the_agent_loads_then_an_early_cell_answers():
    _install("agents_fixtures.gated:agent", "chef-gated", str(TESTS_DIR))
    gate = Path(tempfile.mkdtemp(prefix="silik-gate-")) / "open"
    # The gate is closed: the target's import blocks, yet the kernel is ready.
    driver = AgentDriver("chef-gated", SILIK_TEST_GATE=str(gate))
    try:
        info = driver.request("kernel_info")["content"]
        assert info["implementation"] == "silik-agents"
        assert info["banner"].startswith("chef-gated: a pydantic-ai agent")
        msg_id = driver.kc.execute("remember basil")  # sent before the agent is there
        gate.touch()
        res = driver.collect(msg_id)
        assert res.status == "ok", res.content
        assert "OK, I will remember basil." in final_display(res)["text/plain"]
        assert "basil" in final_display(driver.ok("what did I ask you to remember?"))["text/plain"]
    finally:
        driver.shutdown()
        gate.unlink(missing_ok=True)
        gate.parent.rmdir()


def test_a_load_failure_is_the_first_cells_error_and_the_kernel_stays_up():
    broken = TESTS_DIR / "agents_fixtures" / "broken_pydantic_ai"
    _install("agents_fixtures.chef:agent", "chef-broken", f"{broken}{os.pathsep}{TESTS_DIR}")
    driver = AgentDriver("chef-broken")
    try:
        res = driver.fails("hello")
        assert res.content["ename"] == "AgentLoadError"
        assert "pydantic_ai is broken here" in res.content["evalue"]
        assert "then restart the kernel" in res.content["evalue"]
        again = driver.fails("/help")
        assert again.content["ename"] == "AgentLoadError"
        assert driver.request("kernel_info")["content"]["status"] == "ok"
    finally:
        driver.shutdown()
