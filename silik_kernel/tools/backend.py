"""Where the tools send their operations: a ManagerService, here or over the bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from silik_kernel.agent_policy import Caller, SilikSettings, ToolPolicy
from silik_kernel.asking import AskUser

if TYPE_CHECKING:
    from silik_kernel.service import ManagerService


class SilikBackend(Protocol):
    """What the tools need: ManagerService operations, local or over the bridge."""

    async def call(self, op: str, args: dict[str, Any], *, timeout: float = 60.0) -> Any: ...

    def stream(
        self,
        op: str,
        args: dict[str, Any],
        *,
        timeout: float | None = None,
        ask: AskUser | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


def as_settings(policy: ToolPolicy | None) -> SilikSettings:
    policy = policy or ToolPolicy()
    if isinstance(policy, SilikSettings):
        return policy
    return SilikSettings.model_validate(policy.model_dump(exclude_unset=True))


class ServiceBackend:
    """A ManagerService in this process, asked as ``who()`` says (who asks may
    change per request: an MCP server serves several clients)."""

    def __init__(self, service: ManagerService, who: Callable[[], Caller]) -> None:
        self.service = service
        self.who = who

    async def call(self, op: str, args: dict[str, Any], *, timeout: float = 60.0) -> Any:
        return await self.service.call(op, args, caller=self.who())

    async def stream(
        self,
        op: str,
        args: dict[str, Any],
        *,
        timeout: float | None = None,
        ask: AskUser | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        async for event in self.service.stream(op, args, caller=self.who(), ask=ask):
            yield event

    async def close(self) -> None:
        """The service belongs to whoever made it: nothing to do."""


class LocalBackend(ServiceBackend):
    """An in-process SilikManager for an agent kernel with no parent silik.

    The agent owns these kernels: :meth:`close` shuts them all down. Its service
    holds the agent to ``policy``; a backend made without one holds it to the
    policy of the first toolset it is given to.
    """

    def __init__(self, caller: str = "agent", policy: ToolPolicy | None = None) -> None:
        from silik_kernel.commands.builtin import BUILTIN_COMMANDS
        from silik_kernel.manager import SilikManager
        from silik_kernel.service import ManagerService

        self.policy = policy
        self.manager = SilikManager()
        super().__init__(ManagerService(self.manager, BUILTIN_COMMANDS), self._as)
        self.caller = caller

    def _as(self) -> Caller:
        return Caller(self.caller, as_settings(self.policy))

    async def close(self) -> None:
        await self.manager.shutdown_all()
