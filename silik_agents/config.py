"""Settings of one agent kernel: the agent's defaults, a TOML file, then the environment.

Precedence, lowest first: what the agent itself says (its model), the config file
(``~/.jupyter/silik_agents/NAME.toml``, or the file named by ``SILIK_AGENT_CONFIG``),
then environment variables (``SILIK_AGENT_MODEL``, ``SILIK_AGENT_BASE_URL``,
``SILIK_LOGFIRE``). ``/model NAME`` in a cell overrides all of them for the session.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from silik_agents.budget import LimitSettings
from silik_agents.policy import SilikSettings
from silik_kernel.agent_policy import CONFIG_ENV, MODEL_ENV, config_path

BASE_URL_ENV = "SILIK_AGENT_BASE_URL"
LOGFIRE_ENV = "SILIK_LOGFIRE"


class LogfireSettings(BaseModel):
    """Tracing of agent runs with logfire. Offline unless a logfire token is configured."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    service_name: str | None = None  # defaults to the kernel name
    include_content: bool = True  # prompts, answers and tool arguments in the spans
    console: bool = False  # also print spans to the kernel's stderr (the cell)


class ApprovalSettings(BaseModel):
    """What to do with tools that require approval."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["ask", "allow", "deny"] = "ask"
    allow: list[str] = Field(default_factory=list)  # tool names approved without asking
    deny: list[str] = Field(default_factory=list)  # tool names denied without asking


class AgentSettings(BaseModel):
    """The contents of ``NAME.toml``; every key is optional."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    base_url: str | None = None  # for OpenAI-compatible servers: http://localhost:11434/v1
    api_key_env: str | None = None  # the environment variable that holds the API key
    model_settings: dict[str, Any] = Field(default_factory=dict)  # temperature, max_tokens, ...
    instructions: str | None = None  # added to the agent's own instructions
    live: bool = True  # update the answer in place while it streams
    thinking: Literal["collapsed", "shown", "hidden"] = "collapsed"
    logfire: LogfireSettings = Field(default_factory=LogfireSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    silik: SilikSettings = Field(default_factory=SilikSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)  # each turn's budget


@dataclass
class LoadedSettings:
    """Settings plus where each came from, so `/model` can say why a model is used."""

    settings: AgentSettings
    path: Path  # the config file consulted (it may not exist)
    file_found: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # setting -> "config file" | env var
    error: str | None = None  # the config file could not be used; turns report this


def load_settings(kernel_name: str, environ: Mapping[str, str] | None = None) -> LoadedSettings:
    """Read the config file (if any) and apply environment overrides."""
    env = os.environ if environ is None else environ
    path = config_path(kernel_name, env)
    loaded = LoadedSettings(AgentSettings(), path)
    data: dict[str, Any] = {}
    if path.is_file():
        loaded.file_found = True
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
            loaded.settings = AgentSettings.model_validate(data)
        except (tomllib.TOMLDecodeError, ValidationError, OSError) as exc:
            loaded.error = f"config file {path} is not valid: {_short_error(exc)}"
            data = {}
        for key in data:
            loaded.sources[key] = f"config file {path}"
    elif env.get(CONFIG_ENV):
        loaded.error = f"config file {path} (named by {CONFIG_ENV}) does not exist"

    overrides: dict[str, Any] = {}
    if env.get(MODEL_ENV):
        overrides["model"] = env[MODEL_ENV]
        loaded.sources["model"] = MODEL_ENV
    if env.get(BASE_URL_ENV):
        overrides["base_url"] = env[BASE_URL_ENV]
        loaded.sources["base_url"] = BASE_URL_ENV
    if env.get(LOGFIRE_ENV):
        enabled = env[LOGFIRE_ENV].strip().lower() not in ("", "0", "false", "no", "off")
        overrides["logfire"] = loaded.settings.logfire.model_copy(update={"enabled": enabled})
        loaded.sources["logfire"] = LOGFIRE_ENV
    if overrides:
        loaded.settings = loaded.settings.model_copy(update=overrides)
    return loaded


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            parts.append(f"{where}: {err['msg']}")
        return "; ".join(parts)
    return str(exc)
