"""KernelRecord: what the manager knows about one kernel besides its place in the tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from silik_kernel.agent_marks import REPLY_METADATA_KEY
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
    agent: bool = False  # an agent kernel (its kernelspec says so)
    model: str | None = None  # an agent's model: its config's at start, then its replies'
    #: an agent's usage since it started, every thread, as its latest reply said
    usage: dict[str, Any] | None = None
    delegated: dict[str, Any] = field(default_factory=dict)  # what its ask_agent calls spent

    def note_agent_reply(self, metadata: dict[str, Any]) -> None:
        """Keep the ledger an agent kernel's execute_reply carries (whoever asked)."""
        section = metadata.get(REPLY_METADATA_KEY)
        if not isinstance(section, dict) or not isinstance(section.get("usage_total"), dict):
            return
        self.usage = section["usage_total"]
        if isinstance(section.get("delegated"), dict):
            self.delegated = section["delegated"]
        if isinstance(section.get("model"), str):
            self.model = section["model"]

    @property
    def status(self) -> str:
        if self.sub is None:
            return "starting"
        if self.sub.dead_reason and self.sub.execution_state != "restarting":
            return "dead"
        return self.sub.execution_state
