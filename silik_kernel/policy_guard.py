"""PolicyGuard: holds each agent to its policy, whichever way its request came.

The ManagerService asks the guard before every operation of a restricted
caller (an agent): the one place the policy is enforced, for a standalone
agent's own tree and for an agent acting on its parent silik's tree through
the bridge alike. Kernels are owned by the caller's identity (an agent
kernel's id), so renaming an agent keeps its kernels and a new agent of the
same name gets none of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from silik_kernel.agent_policy import Caller
from silik_kernel.commands.reach import kernels_named
from silik_kernel.commands.runner import PlannedLine
from silik_kernel.manager import SilikManager
from silik_kernel.records import KernelRecord
from silik_kernel.starter import looks_like_connection_file

#: silik() commands an agent never runs: `new` would start kernels outside its
#: limits (start_kernel is the way), `source` runs lines no one checked.
AGENT_REFUSED_COMMANDS = {
    "new": "use the start_kernel tool to start a kernel",
    "source": "run its commands one by one with silik()",
}


class PolicyDenied(Exception):
    """What an agent's policy does not allow, said so that the model can act on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PolicyGuard:
    """The checks, and the starts in flight that count against each agent's limit."""

    def __init__(self, manager: SilikManager) -> None:
        self.manager = manager
        self._starting: Counter[str] = Counter()

    def name_of(self, caller: Caller) -> str:
        """How a caller is shown: its kernel's path now, or its own name."""
        rec = self.manager.records.get(caller.id)
        if rec is not None and rec.entry.parent is not None:
            return rec.entry.path
        return caller.id or "user"

    def owns(self, caller: Caller, rec: KernelRecord) -> bool:
        return rec.owner == caller.id

    def enter(self, caller: Caller) -> None:
        """Refuse everything when the agent's silik tools are turned off."""
        if caller.policy is not None and not caller.policy.enabled:
            raise PolicyDenied("the silik tools are turned off for you ([silik] enabled = false)")

    def may_use(self, caller: Caller, path: str) -> None:
        """Refuse a kernel the agent did not start, unless its policy allows it."""
        if caller.policy is None or caller.policy.use_other_kernels:
            return
        self._refuse_foreign(caller, [self.manager.record(path)])

    def _refuse_foreign(self, caller: Caller, records: list[KernelRecord]) -> None:
        foreign = [r for r in records if not self.owns(caller, r)]
        if foreign:
            rec = foreign[0]
            raise PolicyDenied(
                f"{rec.entry.path} was started by {rec.started_by}, not by you; your policy only "
                "lets you use kernels you started (start_kernel gives you one)"
            )

    def may_list(self, caller: Caller, spec_name: str) -> bool:
        allowed = caller.policy.allowed_kernelspecs if caller.policy is not None else None
        return allowed is None or spec_name in allowed

    @contextmanager
    def starting(self, caller: Caller, kernelspec: str) -> Iterator[None]:
        """Around one start: refuse what the policy forbids, and count the start
        against the agent's limit from the moment it is allowed, so that starts
        asked for at once cannot all pass the same check."""
        policy = caller.policy
        if policy is None:
            yield
            return
        if looks_like_connection_file(kernelspec):
            raise PolicyDenied(
                f"{kernelspec!r} is a connection file: agents start kernels from a kernelspec "
                "(list_kernelspecs names them)"
            )
        if not self.may_list(caller, kernelspec):
            allowed = ", ".join(policy.allowed_kernelspecs or [])
            raise PolicyDenied(f"you may not start {kernelspec!r}; allowed: {allowed}")
        # A record still starting belongs to a start counted in _starting.
        mine = [
            r for r in self.manager.records.values() if self.owns(caller, r) and r.sub is not None
        ]
        if len(mine) + self._starting[caller.id] >= policy.max_kernels:
            paths = ", ".join(r.entry.path for r in mine) or "they are still starting"
            raise PolicyDenied(
                f"you already run {len(mine) + self._starting[caller.id]} kernels, your limit "
                f"of {policy.max_kernels}; stop one first ({paths})"
            )
        self._starting[caller.id] += 1
        try:
            yield
        finally:
            self._starting[caller.id] -= 1

    def may_run(self, caller: Caller, head: str, planned: PlannedLine) -> None:
        """A silik() command line: allowed by name, and touching only the agent's
        own kernels (every kernel its words name) unless its policy says otherwise."""
        policy = caller.policy
        if policy is None:
            return
        if head not in policy.silik_commands:
            raise PolicyDenied(
                f"the silik command {head!r} is not allowed for you; "
                f"allowed: {', '.join(policy.silik_commands)}"
            )
        name = planned.command.name if planned.command is not None else head
        if name in AGENT_REFUSED_COMMANDS:
            raise PolicyDenied(f"agents do not run {name!r} here: {AGENT_REFUSED_COMMANDS[name]}")
        if not policy.use_other_kernels:
            named = kernels_named(self.manager.tree, planned)
            self._refuse_foreign(caller, [self.manager.record_of(e) for e in named])
