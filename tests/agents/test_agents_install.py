"""`python -m silik_agents install` for an agent that lives in a project folder,
not installed: the kernel must work when Jupyter starts it from anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agents_fixtures.kernels import AgentDriver, clean_env, final_display

from silik_agents.install import kernel_json

AGENT = """\
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

agent = Agent(TestModel(call_tools=[], custom_output_text="soup is ready"), name="cookproj")
"""


def make_project(root: Path) -> Path:
    """A folder holding the package ``cookproj`` (as a user's project would, before
    `pip install -e .`)."""
    package = root / "project" / "cookproj"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "agent.py").write_text(AGENT)
    return package.parent


def install_cookproj(cwd: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "silik_agents", "install", "cookproj.agent:agent"]
        + ["--name", "cookproj", "--user"],
        cwd=cwd,
        env=clean_env(JUPYTER_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_installed_from_the_project_folder_the_kernel_works_anywhere(tmp_path):
    project = make_project(tmp_path)
    data = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    refused = install_cookproj(elsewhere, data)  # where the package cannot be imported
    assert refused.returncode == 2
    assert "no module named 'cookproj'" in refused.stderr
    assert "`pip install -e .` in its project folder" in refused.stderr
    assert not (data / "kernels" / "cookproj").exists()

    done = install_cookproj(project, data)
    assert done.returncode == 0, done.stderr
    assert str(project) in done.stderr and "pip install -e ." in done.stderr
    driver = AgentDriver("cookproj", dirs=[str(data / "kernels")], cwd=str(elsewhere))
    try:
        assert final_display(driver.ok("what is cooking?"))["text/plain"] == "soup is ready"
        # Loaded (the first cell waited for it), the banner names the model.
        assert "Model: test" in driver.request("kernel_info")["content"]["banner"]
    finally:
        driver.shutdown()


def test_an_agent_that_cannot_load_claims_no_model_and_says_how_to_fix_it(tmp_path):
    kernels = tmp_path / "kernels"
    (kernels / "lost").mkdir(parents=True)
    spec = kernel_json("lostproj_nowhere.agent:agent", "lost")
    (kernels / "lost" / "kernel.json").write_text(json.dumps(spec))
    driver = AgentDriver("lost", dirs=[str(kernels)], SILIK_AGENT_MODEL="test")
    try:
        # Before and after the load (which the first cell waits for), no model is claimed.
        assert "Model:" not in driver.request("kernel_info")["content"]["banner"]
        res = driver.fails("hello")
        banner = driver.request("kernel_info")["content"]["banner"]
        assert "Model:" not in banner
        assert "could not load" in banner
        assert res.content["ename"] == "AgentLoadError"
        assert "no module named 'lostproj_nowhere'" in res.error
        assert "pip install -e ." in res.error
    finally:
        driver.shutdown()
