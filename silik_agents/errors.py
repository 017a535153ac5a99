"""Errors an agent kernel shows in a cell: what went wrong, and what to do about it."""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from typing import Any

from pydantic_ai import exceptions as ai_errors
from pydantic_ai.agent import AbstractAgent


class AgentError(Exception):
    """A failure the user can act on: ``message`` says what happened, ``hint`` what to do."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        ename: str = "AgentError",
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.ename = ename
        self.details = details or []  # extra traceback lines (for bugs in tools or agents)

    def traceback_lines(self) -> list[str]:
        lines = [f"{self.ename}: {self.message}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return lines + self.details


_PIP_EXTRA = re.compile(r'pip install "([^"]+)"')
_ENV_VAR = re.compile(r"`([A-Z][A-Z0-9_]*)` environment variable")


def explain(
    exc: BaseException, *, config_file: str, base_url: str | None, model: str
) -> AgentError:
    """Turn an exception from building a model or running a turn into an AgentError."""
    if isinstance(exc, AgentError):
        return exc
    name = type(exc).__name__
    text = str(exc).strip() or name
    if isinstance(exc, ImportError):
        return _missing_package(text)
    if isinstance(exc, ai_errors.ModelAPIError):
        return _model_api_error(exc, text, model=model, config_file=config_file, base_url=base_url)
    if isinstance(exc, ai_errors.UserError):
        return _user_error(text, name, config_file, model)
    if isinstance(exc, ai_errors.AgentRunError):
        return AgentError(text, None, ename=name)
    if isinstance(exc, RuntimeError) and "ALLOW_MODEL_REQUESTS" in text:
        return AgentError(text, "real model requests are turned off in this process", ename=name)
    return AgentError(
        text,
        "this is a bug in the agent or one of its tools; the lines below show where",
        ename=name,
        details=traceback_of(exc),
    )


def agent_load_error(exc: BaseException, what: str) -> AgentError:
    """Creating the agent failed: the kernel runs on and every chat cell says why."""
    return AgentError(
        f"could not create the agent {what}: {type(exc).__name__}: {exc}",
        "fix the agent's module, then restart the kernel",
        ename="AgentLoadError",
        details=traceback_of(exc),
    )


def create_agent(make_agent: Callable[[], Any], what: str) -> AbstractAgent[Any, Any]:
    """The kernel's agent from ``make_agent()``; any failure is an AgentError that
    every chat cell shows (the kernel starts anyway)."""
    try:
        agent = make_agent()
    except AgentError:
        raise
    except Exception as exc:
        raise agent_load_error(exc, what) from None
    if not isinstance(agent, AbstractAgent):
        raise AgentError(f"make_agent() returned {type(agent).__name__}, not a pydantic-ai Agent")
    return agent


def internal_error(exc: BaseException) -> AgentError:
    return AgentError(
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a silik_agents bug; the kernel log has the full traceback",
        ename="InternalError",
    )


def traceback_of(exc: BaseException) -> list[str]:
    return [line.rstrip("\n") for line in traceback.format_exception(exc)]


def _missing_package(text: str) -> AgentError:
    m = _PIP_EXTRA.search(text)
    package = m.group(1) if m else "pydantic-ai-slim[PROVIDER]"
    return AgentError(
        text,
        f'install it into this kernel\'s Python: {sys.executable} -m pip install "{package}", '
        "then restart the kernel; or `/model NAME` to use another model",
        ename="MissingPackage",
    )


def _model_api_error(
    exc: ai_errors.ModelAPIError, text: str, *, model: str, config_file: str, base_url: str | None
) -> AgentError:
    """The model provider refused or could not be reached."""
    name = type(exc).__name__
    if isinstance(exc, ai_errors.ModelAuthenticationError):
        return AgentError(
            f"the provider rejected the credentials for {model}: {text}",
            "check the API key in the kernel's environment (or api_key_env in "
            f"{config_file}), then run the cell again",
            ename=name,
        )
    if isinstance(exc, ai_errors.ModelConnectionError):
        where = f" at {base_url}" if base_url else ""
        return AgentError(
            f"could not reach the model server{where} for {model}: {text}",
            "is the server running and the URL right? For Ollama: `ollama serve`, then "
            "base_url = http://localhost:11434/v1 with an openai-chat: model string",
            ename=name,
        )
    if isinstance(exc, ai_errors.ModelNotFoundError):
        return AgentError(
            f"the provider does not know the model {model}: {text}",
            "check the model name; `/model NAME` switches model",
            ename=name,
        )
    if isinstance(exc, ai_errors.ModelHTTPError):
        return AgentError(
            f"the model provider answered HTTP {exc.status_code} for {model}: {_body(exc) or text}",
            None,
            ename=name,
        )
    return AgentError(f"the model request failed for {model}: {text}", None, ename=name)


def _user_error(text: str, name: str, config_file: str, model: str) -> AgentError:
    """A setting is missing or a model string is wrong."""
    m = _ENV_VAR.search(text)
    if m:
        # pydantic-ai's own advice is code to change (a provider's api_key, Agent('test')):
        # in a kernel the ways out are the environment, the config file and /model.
        var = m.group(1)
        return AgentError(
            f"the model {model} needs the {var} environment variable, which is not set "
            "in this kernel",
            f"set {var} in the environment Jupyter starts this kernel from (your shell "
            f"before `jupyter lab`, or the kernelspec's env), or name another variable with "
            f"api_key_env in {config_file}; `/model NAME` switches to another model, "
            "`/model test` tries the kernel without any key",
            ename="MissingSetting",
        )
    if text.startswith("Unknown model"):
        return AgentError(
            text,
            "model strings look like openai-chat:gpt-4o, anthropic:claude-sonnet-4-5, "
            "openai-chat:llama3.2 with a base_url, or test",
            ename="UnknownModel",
        )
    return AgentError(text, None, ename=name)


def _body(exc: ai_errors.ModelHTTPError) -> str:
    body = getattr(exc, "body", None)
    if body is None:
        return ""
    text = str(body)
    return text if len(text) <= 500 else text[:499] + "…"
