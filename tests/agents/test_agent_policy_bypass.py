"""A scripted agent under a real silik tries every known way around its policy,
and the refusal is what the model gets back (issue 19)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from agents_fixtures.kernels import TESTS_DIR, clean_env, final_display
from conftest import KernelDriver


@pytest.fixture(scope="module")
def intruder_prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("intruder-prefix")
    cmd = [sys.executable, "-m", "silik_agents", "install", "agents_fixtures.intruder:agent"]
    cmd += ["--name", "intruder", "--prefix", str(prefix), "--env", f"PYTHONPATH={TESTS_DIR}"]
    subprocess.run(
        cmd, env=clean_env(PYTHONPATH=str(TESTS_DIR)), check=True, capture_output=True, timeout=60
    )
    return prefix


@pytest.fixture
def parent(intruder_prefix, tmp_path):
    """A silik that starts the intruder agent, whose policy allows one kernel."""
    config = tmp_path / "config" / "silik_agents" / "intruder.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[silik]\nmax_kernels = 1\n")
    env = clean_env(
        JUPYTER_PATH=str(intruder_prefix / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
    )
    driver = KernelDriver("silik", env=env)
    try:
        yield driver
    finally:
        driver.shutdown()


def ask(parent: KernelDriver, agent: str, prompt: str) -> str:
    """What the intruder answers: one "tool outcome: content" line per tool result."""
    parent.ok(f"> {agent}")
    try:
        return final_display(parent.ok(prompt, timeout=60))["text/plain"]
    finally:
        parent.ok("/cmd")


def test_every_way_around_the_policy_is_refused_and_the_model_is_told(parent):
    parent.ok("new python3 -l victim\nrun \"secret = 'TOPSECRET-123'\" victim.py")
    parent.ok("new intruder -l ag")
    # 1. silik commands are held to the ownership the tools are held to
    for word in ("history", "info"):
        answer = ask(parent, "ag.txt", word)
        assert "silik failed: ~/victim.py was started by user, not by you" in answer
        assert "TOPSECRET" not in answer and "connection_file" not in answer
    # 2. three starts in one response, with max_kernels = 1: one starts
    answer = ask(parent, "ag.txt", "triple")
    outcomes = [line for line in answer.splitlines() if line.startswith("start_kernel ")]
    assert sum(o.startswith("start_kernel success") for o in outcomes) == 1
    assert sum("your limit of 1" in o for o in outcomes) == 2
    assert len([k for k in ("t1.py", "t2.py", "t3.py") if k in parent.ok("ls").text]) == 1
    started = next(o.split(": ")[1] for o in outcomes if "success" in o)
    assert "stop_kernel success" in ask(parent, "ag.txt", f"stop {started}")
    # 3. code the agent runs finds no credentials of its own; an agent's it finds
    #    on disk act only as that agent, held to its policy
    assert "start_kernel success" in ask(parent, "ag.txt", "box")
    answer = ask(parent, "ag.txt", "escape")
    assert "env ''" in answer and "files 0" not in answer
    assert "stopped" not in answer
    assert "refused: ~/victim.py was started by user, not by you" in answer
    assert parent.ok('run "print(secret)" victim.py').stdout == "TOPSECRET-123\n"


def test_ownership_follows_the_agent_not_its_name(parent):
    parent.ok("new intruder -l ag")
    assert "start_kernel success" in ask(parent, "ag.txt", "box")
    parent.ok("mv ag.txt ag_old.txt")
    # the renamed agent still owns its kernel...
    assert "peeked" in ask(parent, "ag_old.txt", "peek ~/box.py")
    # ...and a new agent given the old name inherits nothing
    parent.ok("new intruder -l ag")
    answer = ask(parent, "ag.txt", "peek ~/box.py")
    assert "run_code failed: ~/box.py was started by ~/ag.txt, not by you" in answer
    assert "stop_kernel success" in ask(parent, "ag_old.txt", "stop ~/box.py")
