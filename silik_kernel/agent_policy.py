"""What an agent may do with the kernels of a silik tree, and who is asking.

The policy is the ``[silik]`` section of an agent's config file. Both sides read
it: the agent kernel (for its own settings) and the silik that starts the agent
(which enforces it). Light to import: pydantic, tomllib and jupyter_core only.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_core.paths import jupyter_config_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from silik_kernel.agent_marks import (  # noqa: F401 - re-exported: the policy side of it
    AGENT_METADATA_KEY,
    BRIDGE_FILE_ENV,
    MODEL_ENV,
    is_agent_spec,
)

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpec

CONFIG_ENV = "SILIK_AGENT_CONFIG"


class ToolPolicy(BaseModel):
    """What an agent may do with kernels. The defaults are the safe choice."""

    allowed_kernelspecs: list[str] | None = Field(
        default=None, description="kernelspecs the agent may start; None means any installed one"
    )
    max_kernels: int = Field(default=8, description="kernels the agent may have running at once")
    use_other_kernels: bool = Field(
        default=False,
        description="may run code in, interrupt, restart or stop kernels it did not start",
    )
    default_timeout: float = Field(default=60.0, description="seconds before run_code interrupts")
    require_approval: list[str] = Field(
        default_factory=list, description="tool names that ask the human first (y/N prompt)"
    )
    silik_commands: list[str] = Field(
        default_factory=lambda: [
            "help",
            "kernels",
            "ls",
            "tree",
            "pwd",
            "info",
            "history",
            "mkdir",
        ],
        description="silik commands the silik() tool may run",
    )
    max_output_chars: int = Field(
        default=4000, description="output kept in a run_code result before it is truncated"
    )
    max_depth: int = Field(
        default=3,
        ge=0,
        description="how deep a chain of agents asking agents may go (ask_agent): "
        "the human asking A is depth 0, A asking B depth 1",
    )


class SilikSettings(ToolPolicy):
    """The ``[silik]`` section of an agent's config file."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="give the agent the silik tools at all")


def narrowed(own: SilikSettings, starter: SilikSettings) -> SilikSettings:
    """The policy of an agent kernel another agent started: its own, never broader
    than its starter's."""

    def both(mine: list[str] | None, theirs: list[str] | None) -> list[str] | None:
        if mine is None or theirs is None:
            return theirs if mine is None else mine
        return [name for name in mine if name in theirs]

    return own.model_copy(
        update={
            "enabled": own.enabled and starter.enabled,
            "allowed_kernelspecs": both(own.allowed_kernelspecs, starter.allowed_kernelspecs),
            "silik_commands": both(own.silik_commands, starter.silik_commands),
            "max_kernels": min(own.max_kernels, starter.max_kernels),
            "max_depth": min(own.max_depth, starter.max_depth),
            "use_other_kernels": own.use_other_kernels and starter.use_other_kernels,
            "require_approval": list(
                dict.fromkeys(own.require_approval + starter.require_approval)
            ),
        }
    )


@dataclass(frozen=True)
class Caller:
    """Who asks the service for an operation.

    ``id`` is the identity kernels are owned by: an agent kernel's kernel id (it
    survives a rename), or a standalone agent's own name. ``policy`` None is the
    person at the silik, who may do anything.
    """

    id: str = ""
    policy: SilikSettings | None = None

    @property
    def restricted(self) -> bool:
        return self.policy is not None


USER = Caller()


def config_path(kernel_name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The agent's config file: ``SILIK_AGENT_CONFIG``, else
    ``JUPYTER_CONFIG_DIR/silik_agents/NAME.toml``."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    config_dir = env.get("JUPYTER_CONFIG_DIR") or jupyter_config_dir()
    return Path(config_dir).expanduser() / "silik_agents" / f"{kernel_name}.toml"


def agent_config_name(spec_name: str, argv: list[str]) -> str:
    """The name an agent kernel reads its config under: its ``--name``, else the spec's."""
    if "--name" in argv[:-1]:
        return argv[argv.index("--name") + 1]
    return spec_name


def read_policy(path: Path) -> SilikSettings:
    """The ``[silik]`` section of the config file at ``path``; the safe defaults when
    the file is missing or that section is not valid (as the agent itself does)."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
        return SilikSettings.model_validate(data.get("silik", {}))
    except (OSError, tomllib.TOMLDecodeError, ValidationError, AttributeError):
        return SilikSettings()


def policy_of_spec(spec: KernelSpec, spec_name: str) -> SilikSettings:
    """The policy of the agent kernel ``spec`` starts: its config file's ``[silik]``,
    found as the agent finds it (the spec's own environment included)."""
    env = {**os.environ, **(spec.env or {})}
    return read_policy(config_path(agent_config_name(spec_name, list(spec.argv)), env))


def model_of_spec(spec: KernelSpec, spec_name: str) -> str | None:
    """The model the agent kernel ``spec`` starts will say it uses, as far as its
    environment and config file tell (None: the agent's own, known from its replies)."""
    env = {**os.environ, **(spec.env or {})}
    if env.get(MODEL_ENV):
        return env[MODEL_ENV]
    try:
        with config_path(agent_config_name(spec_name, list(spec.argv)), env).open("rb") as f:
            model = tomllib.load(f).get("model")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return model if isinstance(model, str) and model else None
