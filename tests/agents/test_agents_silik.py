"""Agents orchestrate kernels in the same silik tree (the toolset + the bridge)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from agents_fixtures.kernels import TESTS_DIR, AgentDriver, clean_env, final_display
from conftest import KernelDriver

from silik_agents.approvals import NO_STDIN_REASON


@pytest.fixture(scope="module")
def orchestra_prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("orchestra-prefix")
    cmd = [sys.executable, "-m", "silik_agents", "install", "agents_fixtures.orchestra:agent"]
    cmd += ["--name", "orchestra", "--prefix", str(prefix), "--env", f"PYTHONPATH={TESTS_DIR}"]
    subprocess.run(
        cmd, env=clean_env(PYTHONPATH=str(TESTS_DIR)), check=True, capture_output=True, timeout=60
    )
    return prefix


@pytest.fixture
def parent(orchestra_prefix, tmp_path):
    """A silik kernel that can start the orchestra agent kernel."""
    env = clean_env(
        JUPYTER_PATH=str(orchestra_prefix / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
    )
    driver = KernelDriver("silik", env=env)
    try:
        yield driver
    finally:
        driver.shutdown()


def test_agent_kernels_appear_in_the_parent_tree_and_the_human_steps_in(parent):
    parent.ok("new orchestra -l orch")
    parent.ok("> orch.txt")
    res = parent.ok("compute the answer")
    # the code the agent ran was shown live in the agent's cell, under its kernel's path
    assert "── ~/calc.py ──\n42\n" in res.stdout
    assert "The kernel printed '42'." in final_display(res)["text/plain"]
    parent.ok("/cmd")
    tree = parent.ok("tree").text
    assert "calc.py  [python3 idle (started by ~/orch.txt)]" in tree
    # the human steps into the kernel the agent started and sees its variables
    parent.ok("> calc.py")
    assert parent.ok("x").text == "42\n"
    parent.ok("/cmd")
    # the agent lists the tree it shares with the human
    parent.ok("> orch.txt")
    listed = final_display(parent.ok("tree please"))["text/plain"]
    assert "~/calc.py by ~/orch.txt" in listed and "~/orch.txt by user" in listed
    parent.ok("/cmd")


def test_policy_keeps_the_agent_off_kernels_it_did_not_start(parent):
    parent.ok("new python3 -l mine\nnew orchestra -l orch\n> orch.txt")
    answer = final_display(parent.ok("peek ~/mine.py"))["text/plain"]
    assert "That failed" in answer and "not by you" in answer
    parent.ok("/cmd")
    assert parent.ok('run "print(1)" mine.py').stdout == "1\n"


def test_standalone_agent_owns_its_kernels_and_stops_them(orchestra_prefix, tmp_path):
    driver = AgentDriver.__new__(AgentDriver)
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    ksm = KernelSpecManager(kernel_dirs=[str(orchestra_prefix / "share" / "jupyter" / "kernels")])
    driver.km = KernelManager(kernel_name="orchestra", kernel_spec_manager=ksm)
    driver.km.start_kernel(env=clean_env(JUPYTER_CONFIG_DIR=str(tmp_path)))
    driver.kc = driver.km.client()
    driver.kc.start_channels()
    driver.stdin_answers, driver.input_prompts = [], []
    try:
        driver.kc.wait_for_ready(timeout=60)
        res = driver.ok("compute")
        assert "The kernel printed '42'." in final_display(res)["text/plain"]
        assert "Kernels: ~/calc.py by orchestra" in final_display(driver.ok("tree"))["text/plain"]
    finally:
        driver.shutdown()
    # the no_leaked_processes fixture fails the test if calc.py outlived the agent


def test_tools_named_in_the_policy_ask_the_human_first(parent, tmp_path):
    # The parent's JUPYTER_CONFIG_DIR (see the fixture) is inherited by the agent kernel.
    config = tmp_path / "config" / "silik_agents" / "orchestra.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[silik]\nrequire_approval = ["run_code"]\n')
    parent.ok("new orchestra -l orch\n> orch.txt")
    parent.stdin_answers = ["n"]
    denied = parent.ok("compute", allow_stdin=True)
    assert "Allow run_code on ~/calc.py? [y/N]" in parent.input_prompts[-1]["prompt"]
    assert "That failed" in final_display(denied)["text/plain"]
    parent.ok("cleanup")
    parent.stdin_answers = ["y"]
    allowed = parent.ok("compute", allow_stdin=True)
    assert "The kernel printed '42'." in final_display(allowed)["text/plain"]
    # with no stdin, the call is denied and the cell says why
    parent.ok("cleanup")
    no_stdin = parent.ok("compute", allow_stdin=False)
    answer = final_display(no_stdin)["text/plain"]
    assert "42" not in answer and NO_STDIN_REASON in answer
