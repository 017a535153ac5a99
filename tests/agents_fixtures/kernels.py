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
CHEF = "agents_fixtures.chef:agent"
CHEF_CLASS = "agents_fixtures.chef:ChefKernel"
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
    """A prefix holding the `chef` (via the CLI) and `chef-sub` kernelspecs."""
    global _prefix
    if _prefix is None:
        prefix = Path(tempfile.mkdtemp(prefix="silik-agents-test-"))
        atexit.register(shutil.rmtree, prefix, True)
        env = {**clean_env(), "PYTHONPATH": str(TESTS_DIR)}
        cmd = [sys.executable, "-m", "silik_agents", "install", CHEF, "--name", "chef"]
        cmd += ["--display-name", "Chef", "--prefix", str(prefix)]
        cmd += ["--env", f"PYTHONPATH={TESTS_DIR}"]
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=60)
        from silik_agents.__main__ import main

        main(
            ["install", CHEF_CLASS, "--name", "chef-sub", "--prefix", str(prefix), "--no-check"]
            + ["--env", f"PYTHONPATH={TESTS_DIR}"]
        )
        _prefix = prefix
    return _prefix


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


def final_display(res: Any) -> dict[str, str]:
    shown = displays(res)
    assert shown, f"no display in {[m['msg_type'] for m in res.messages]}"
    return shown[-1]["content"]["data"]


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
