"""What an agent may do with the kernels of a silik tree (the `[silik]` config section).

Kept free of heavy imports: the config loader reads it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class SilikSettings(ToolPolicy):
    """The ``[silik]`` section of an agent's config file."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="give the agent the silik tools at all")
