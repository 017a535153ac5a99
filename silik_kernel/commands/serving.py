"""What the `mcp` command asks of the silik it runs in.

The command language sits below the service and the kernel, so it names only
this capability; the kernel implements it (with ``silik_kernel.mcp``) and hands
it to the commands through their :class:`~silik_kernel.commands.context.Context`.
Contexts without it (an agent's or an MCP client's ``silik`` tool) cannot serve
the tree on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

#: the environment variable a token is taken from, and client configurations name
TOKEN_ENV = "SILIK_MCP_TOKEN"


def take_token_from_env() -> str | None:
    """The token ``SILIK_MCP_TOKEN`` gives, if any, removed from the environment:
    the kernels this process starts inherit its environment, and the code they run
    must not find the key to the server that started them."""
    return os.environ.pop(TOKEN_ENV, "").strip() or None


@dataclass(frozen=True)
class McpStatus:
    """Whether this silik serves its tree over MCP, where, and with which token."""

    running: bool
    url: str | None = None
    token: str | None = None
    policy: str = ""  # where the clients' policy comes from, for people


class McpControl(Protocol):
    async def start(self, port: int, stateless: bool = False) -> McpStatus:
        """Serve this silik's tree at ``http://127.0.0.1:PORT/mcp`` (``port`` 0: any free
        one); ``stateless``: without session ids.

        Raises SilikError when it is already serving or cannot listen there.
        """
        ...

    async def stop(self) -> bool:
        """Stop serving and close the port; False if it was not serving."""
        ...

    def status(self) -> McpStatus: ...
