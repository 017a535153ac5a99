"""Optional logfire tracing of agent runs.

Turned on by ``[logfire] enabled = true`` in the config file or ``SILIK_LOGFIRE=1``.
It never talks to the network unless a logfire token is configured
(``LOGFIRE_TOKEN``, or credentials written by ``logfire auth``): spans are then
sent to logfire; otherwise they stay in the process (and on the console if asked).
"""

from __future__ import annotations

from typing import Any

from silik_agents.config import LogfireSettings


def start_tracing(agent: Any, settings: LogfireSettings, *, service_name: str) -> str | None:
    """Trace ``agent``'s runs when the settings ask for it; a note for the user when
    tracing could not start (the kernel works on without it)."""
    if agent is None or not settings.enabled:
        return None
    try:
        instrument(agent, settings, service_name=service_name)
    except Exception as exc:
        return f"logfire tracing is off: {type(exc).__name__}: {exc}"
    return None


def instrument(
    agent: Any, settings: LogfireSettings, *, service_name: str, configure: bool = True
) -> None:
    """Trace ``agent``'s runs. ``configure=False`` keeps a logfire set up by the caller (tests)."""
    try:
        import logfire
    except ImportError as exc:
        raise ImportError(
            'logfire tracing needs the logfire package: pip install "logfire"'
        ) from exc
    if configure:
        logfire.configure(
            send_to_logfire="if-token-present",
            service_name=settings.service_name or service_name,
            console=logfire.ConsoleOptions(colors="never") if settings.console else False,
            inspect_arguments=False,
        )
    logfire.instrument_pydantic_ai(agent, include_content=settings.include_content)
