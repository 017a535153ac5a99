"""What an agent may do with the kernels of a silik tree (the `[silik]` config section).

Defined in silik_kernel, which enforces it on the agent's every request.
"""

from __future__ import annotations

from silik_kernel.agent_policy import SilikSettings, ToolPolicy

__all__ = ["SilikSettings", "ToolPolicy"]
