"""KernelRecord: what the manager knows about one kernel besides its place in the tree."""

from __future__ import annotations

from dataclasses import dataclass

from silik_kernel.subkernels.subkernel import SubKernel
from silik_kernel.tree import KernelEntry


@dataclass
class KernelRecord:
    """One kernel of the tree: its entry, where it came from, and its SubKernel."""

    entry: KernelEntry
    spec_name: str
    started_by: str = "user"  # who started it, as shown: "user" or the agent's path then
    owner: str = ""  # the identity that owns it (an agent kernel's id); "" for the user
    sub: SubKernel | None = None  # None while starting
    remote_host: str = ""  # host:port of the gateway that runs it; "" for local kernels

    @property
    def status(self) -> str:
        if self.sub is None:
            return "starting"
        if self.sub.dead_reason and self.sub.execution_state != "restarting":
            return "dead"
        return self.sub.execution_state
