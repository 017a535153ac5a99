"""Installing the test agent kernels and driving them through jupyter_client.

The kernelspecs go into one temporary prefix per test process (installed once,
removed at exit); kernels are found through a KernelSpecManager on that prefix,
so nothing is installed for the user.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from conftest import KernelDriver
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

TESTS_DIR = Path(__file__).resolve().parent.parent
#: The test kernels import the fixtures and the project under test from any directory
#: (a kernel started by JupyterLab or a console runs elsewhere).
KERNEL_PYTHONPATH = os.pathsep.join([str(TESTS_DIR), str(TESTS_DIR.parent)])
CHEF = "agents_fixtures.chef:agent"
CHEF_CLASS = "agents_fixtures.chef:ChefKernel"
ORCHESTRA = "agents_fixtures.orchestra:agent"
TEAM = "agents_fixtures.team:agent"
#: The team agents' config: they may ask each other, and their silik tool asks first.
TEAM_CONFIG = '[silik]\nuse_other_kernels = true\nrequire_approval = ["silik"]\nmax_depth = 2\n'
#: Variables a developer may have set that would change what the kernels do.
SCRUBBED_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "SILIK_AGENT_MODEL",
    "SILIK_AGENT_BASE_URL",
    "SILIK_AGENT_CONFIG",
    "SILIK_LOGFIRE",
    "LOGFIRE_TOKEN",
    "SILIK_TEST_ALLOW_REQUESTS",
)

_prefix: Path | None = None


def agent_prefix() -> Path:
    """A prefix holding the `chef` (via the CLI), `chef-sub`, `orchestra` and `team`
    kernelspecs."""
    global _prefix
    if _prefix is None:
        prefix = Path(tempfile.mkdtemp(prefix="silik-agents-test-"))
        atexit.register(shutil.rmtree, prefix, True)
        env = {**clean_env(), "PYTHONPATH": KERNEL_PYTHONPATH}
        cmd = [sys.executable, "-m", "silik_agents", "install", CHEF, "--name", "chef"]
        cmd += ["--display-name", "Chef", "--prefix", str(prefix)]
        cmd += ["--env", f"PYTHONPATH={KERNEL_PYTHONPATH}"]
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=60)
        from silik_agents.__main__ import main

        for target, name in ((CHEF_CLASS, "chef-sub"), (ORCHESTRA, "orchestra"), (TEAM, "team")):
            main(
                ["install", target, "--name", name, "--prefix", str(prefix), "--no-check"]
                + ["--env", f"PYTHONPATH={KERNEL_PYTHONPATH}"]
            )
        _prefix = prefix
    return _prefix


def team_config_dir(root: Path) -> Path:
    """A JUPYTER_CONFIG_DIR under ``root`` holding TEAM_CONFIG as team's config."""
    (root / "silik_agents").mkdir(parents=True, exist_ok=True)
    (root / "silik_agents" / "team.toml").write_text(TEAM_CONFIG)
    return root


def kernel_dirs() -> list[str]:
    return [str(agent_prefix() / "share" / "jupyter" / "kernels")]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYDANTIC_AI_NO_BANNER"] = "1"
    env.update(extra)
    return env


def start_manager(
    kernel_name: str,
    env: dict[str, str],
    dirs: list[str] | None = None,
    transport_encryption: str = "disabled",
    **start_kw: Any,
) -> KernelManager:
    """Start ``kernel_name`` from the kernelspecs in ``dirs`` (the test prefix's by default)."""
    km = KernelManager(
        kernel_name=kernel_name,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=dirs or kernel_dirs()),
        transport_encryption=transport_encryption,
    )
    km.start_kernel(env=env, **start_kw)
    return km


class AgentDriver(KernelDriver):
    """KernelDriver on an agent kernelspec from the test prefix."""

    def __init__(
        self,
        kernel_name: str = "chef",
        config_dir: str | None = None,
        log: Path | None = None,
        *,
        dirs: list[str] | None = None,
        cwd: str | None = None,
        transport_encryption: str = "disabled",
        **env: str,
    ) -> None:
        if config_dir is None:
            config_dir = tempfile.mkdtemp(prefix="silik-agents-config-")
            atexit.register(shutil.rmtree, config_dir, True)
        self.config_dir = Path(config_dir)
        self.log = log
        env_of_kernel = clean_env(JUPYTER_CONFIG_DIR=config_dir, **env)
        start_kw: dict[str, Any] = {"cwd": cwd} if cwd else {}
        if log is None:
            self.km = start_manager(
                kernel_name, env_of_kernel, dirs, transport_encryption, **start_kw
            )
        else:  # the kernel's stderr, its log, into ``log``
            with open(log, "wb") as f:  # the kernel process keeps its own descriptor
                self.km = start_manager(
                    kernel_name, env_of_kernel, dirs, transport_encryption, stderr=f, **start_kw
                )
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=60)
        except Exception:
            self.shutdown()
            raise
        self.stdin_answers: list[str] = []
        self.input_prompts: list[dict[str, Any]] = []


def displays(res: Any) -> list[dict[str, Any]]:
    """The display_data and update_display_data messages of a cell, in order."""
    return res.of_type("display_data", "update_display_data")


def shown_displays(res: Any) -> list[dict[str, str]]:
    """The cell's displays as a notebook keeps them: each display_data in its place,
    replaced by every later update_display_data of its display_id; empty ones dropped."""
    outputs: list[dict[str, str]] = []
    places: dict[str, list[int]] = {}
    for msg in displays(res):
        content = msg["content"]
        display_id = content.get("transient", {}).get("display_id")
        if msg["msg_type"] == "display_data":
            outputs.append(content["data"])
            if display_id:
                places.setdefault(display_id, []).append(len(outputs) - 1)
        else:
            for place in places.get(display_id, []):
                outputs[place] = content["data"]
    return [data for data in outputs if data]


def printed(res: Any) -> str:
    """What jupyter console prints of a cell: streams and each display_data's text/plain,
    in order (it ignores update_display_data)."""
    texts = []
    for msg in res.of_type("stream", "display_data"):
        content = msg["content"]
        if msg["msg_type"] == "stream":
            texts.append(content["text"])
        elif "text/plain" in content["data"]:
            texts.append(content["data"]["text/plain"] + "\n")
    return "".join(texts)


def final_display(res: Any) -> dict[str, str]:
    """What the cell shows at the end: its displays' text joined, per mime type."""
    shown = shown_displays(res)
    assert shown, f"no display in {[m['msg_type'] for m in res.messages]}"
    joined: dict[str, list[str]] = {}
    for data in shown:
        for mime, text in data.items():
            joined.setdefault(mime, []).append(text)
    return {
        mime: ("\n\n" if mime == "text/markdown" else "\n").join(t) for mime, t in joined.items()
    }


def execute_with_metadata(driver: AgentDriver, code: str, metadata: dict[str, Any]) -> str:
    """Send an execute_request carrying request metadata (as chat frontends do)."""
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    msg = driver.kc.session.msg("execute_request", content, metadata=metadata)
    driver.kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]
