"""Bridge credentials for the agent kernels a silik starts.

Agents act on the tree through the bridge, each with its own key and held to the
policy of its config file as it is when the kernel starts. The bridge is started
with the first agent, so a silik without agents never imports or serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from silik_kernel.commands.registry import CommandRegistry
    from silik_kernel.manager import SilikManager


class AgentBridge:
    def __init__(self, manager: SilikManager, commands: CommandRegistry) -> None:
        self.manager = manager
        self.commands = commands
        self.server: Any = None  # the BridgeServer, once an agent needs it

    def credentials(self, spec_name: str, kernel_id: str, owner: str = "") -> dict[str, str]:
        """The environment that gives the agent kernel ``kernel_id`` its credentials;
        one started by the agent ``owner`` is never allowed more than that agent."""
        from silik_kernel.agent_policy import BRIDGE_FILE_ENV, narrowed, policy_of_spec
        from silik_kernel.bridge import BridgeServer
        from silik_kernel.runtime_files import private_dir
        from silik_kernel.service import ManagerService

        if self.server is None:
            service = ManagerService(self.manager, self.commands)
            self.server = BridgeServer(service, private_dir().path)
            self.server.start()
        policy = policy_of_spec(self.manager.ksm.get_kernel_spec(spec_name), spec_name)
        if owner:
            starter = self.server.policy_of(owner)
            if starter is None:
                return {}  # not an agent of this tree: it gets a tree of its own
            policy = narrowed(policy, starter)
        return {BRIDGE_FILE_ENV: self.server.issue(kernel_id, policy)}
