"""Which model a turn uses, and how a model string becomes a pydantic-ai Model.

The choice is made from, lowest precedence first: the agent's own model, the
config file, ``SILIK_AGENT_MODEL``, then ``/model NAME`` in the session. Building
the model is what fails when a provider package or an API key is missing, so it
happens when a turn (or ``/model``) needs it and its errors reach the cell.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic_ai.models import KnownModelName, Model, infer_model
from pydantic_ai.providers import Provider, infer_provider, infer_provider_class

from silik_agents.config import AgentSettings, LoadedSettings
from silik_agents.errors import AgentError


@dataclass(frozen=True)
class ModelChoice:
    spec: str | Model | None  # None: the agent has no model
    source: str  # "the agent", "config file PATH", "SILIK_AGENT_MODEL", "/model"

    @property
    def label(self) -> str:
        return describe_model(self.spec)


def choose_model(agent_model: str | Model | None, loaded: LoadedSettings) -> ModelChoice:
    """The model before any `/model` in the session."""
    if loaded.settings.model:
        return ModelChoice(loaded.settings.model, loaded.sources.get("model", "config file"))
    return ModelChoice(agent_model, "the agent")


def turn_model(
    choice: ModelChoice, build: Callable[[str], Model], config_file: object
) -> Model | None:
    """The ``model=`` of a turn's run: None lets the agent use its own Model object."""
    if choice.spec is None:
        raise AgentError(
            "this agent has no model",
            f'set SILIK_AGENT_MODEL, put model = "..." in {config_file}, '
            "or type /model NAME (e.g. /model openai-chat:gpt-4o)",
            ename="NoModel",
        )
    if isinstance(choice.spec, Model):
        return None if choice.source == "the agent" else choice.spec
    return build(choice.spec)


def describe_model(spec: str | Model | None) -> str:
    if spec is None:
        return "(none)"
    if isinstance(spec, str):
        return spec
    model_id = getattr(spec, "model_id", None)
    if isinstance(model_id, str) and model_id:
        return model_id
    return f"{spec.system}:{spec.model_name}"


def build_model(spec: str | Model, settings: AgentSettings) -> Model:
    """Turn a model string into a Model, applying ``base_url`` and ``api_key_env``.

    Raises ImportError (provider package missing) or UserError (unknown model,
    missing key or URL), each with a message that says what to do.
    """
    if isinstance(spec, Model):
        return spec
    if not settings.base_url and not settings.api_key_env:
        return infer_model(spec)
    return infer_model(spec, provider_factory=lambda name: _provider(name, settings))


def _provider(name: str, settings: AgentSettings) -> Provider[Any]:
    kwargs: dict[str, Any] = {}
    if settings.base_url:
        kwargs["base_url"] = settings.base_url
    if settings.api_key_env:
        key = os.environ.get(settings.api_key_env)
        if key:
            kwargs["api_key"] = key
        elif not settings.base_url:
            from pydantic_ai.exceptions import UserError

            raise UserError(
                f"Set the `{settings.api_key_env}` environment variable "
                f"(named by api_key_env in the config file)."
            )
    if name.startswith("gateway/"):
        return infer_provider(name)
    cls = infer_provider_class(name)
    try:
        return cls(**kwargs)
    except TypeError:
        from pydantic_ai.exceptions import UserError

        raise UserError(
            f"The {name!r} provider does not take base_url/api_key from silik's config; "
            "remove them or use a model string for an OpenAI-compatible server (openai-chat:NAME)."
        ) from None


def known_model_names() -> list[str]:
    """Model strings pydantic-ai knows by name, for completion of `/model`."""
    value = getattr(KnownModelName, "__value__", KnownModelName)
    return sorted({str(a) for a in typing.get_args(value)} | {"test"})
