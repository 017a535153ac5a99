"""How silik tells agent kernels apart, importable without pydantic.

Defining a pydantic model loads pydantic's plugins, and logfire registers one:
a silik that imported ``agent_policy`` at start paid for importing logfire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Names the file with an agent kernel's own bridge credentials; no other kernel has it.
BRIDGE_FILE_ENV = "SILIK_BRIDGE_FILE"
#: The kernelspec metadata key that marks an agent kernel (see silik_agents/install.py).
AGENT_METADATA_KEY = "silik_agents"
#: The key of an agent kernel's execute_reply metadata (silik_agents/chat_protocol.py).
REPLY_METADATA_KEY = "silik_agents"
#: The variable that overrides an agent's configured model (silik_agents/config.py).
MODEL_ENV = "SILIK_AGENT_MODEL"


def is_agent_spec(metadata: Mapping[str, Any]) -> bool:
    """Whether a kernelspec's metadata marks an agent kernel."""
    return isinstance(metadata.get(AGENT_METADATA_KEY), dict)
