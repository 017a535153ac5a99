"""silik_agents: turn any pydantic-ai agent into a Jupyter kernel you chat with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AgentKernel", "CommandOutput", "TurnView", "command", "__version__"]

if TYPE_CHECKING:
    from silik_agents.commands import CommandOutput, command
    from silik_agents.kernel import AgentKernel
    from silik_agents.render import TurnView


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m silik_agents install` does not pay for ipykernel's import.
    if name == "AgentKernel":
        from silik_agents.kernel import AgentKernel

        return AgentKernel
    if name in ("command", "CommandOutput"):
        from silik_agents import commands

        return getattr(commands, name)
    if name == "TurnView":
        from silik_agents.render import TurnView

        return TurnView
    raise AttributeError(f"module 'silik_agents' has no attribute {name!r}")
