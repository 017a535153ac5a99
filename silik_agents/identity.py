"""What an agent kernel says it is, light to import (no pydantic-ai)."""

from __future__ import annotations

from silik_agents import __version__

IMPLEMENTATION = "silik-agents"

#: Cells are messages in plain text (Markdown where the frontend highlights it).
LANGUAGE_INFO = {
    "name": "text",
    "mimetype": "text/plain",
    "file_extension": ".txt",
    "pygments_lexer": "text",
    "codemirror_mode": "markdown",
    "version": __version__,
}


def plain_banner(name: str) -> str:
    """The banner before the agent is loaded: what the kernel is, no model claimed."""
    return f"{name}: a pydantic-ai agent as a Jupyter kernel. Each cell is a message; /help lists the commands."
