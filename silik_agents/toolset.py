"""The silik tools as a pydantic-ai toolset.

The tools themselves (names, signatures, docstrings, logic) are defined once in
:mod:`silik_kernel.tools.definitions`; this face wraps each one so that a
failure is pydantic-ai's ``ToolFailed`` and an image its ``BinaryContent``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic_ai import BinaryContent, FunctionToolset, Tool, ToolFailed

from silik_agents.policy import SilikSettings, ToolPolicy
from silik_kernel.tools.backend import LocalBackend, SilikBackend
from silik_kernel.tools.base import Image, ToolError, input_asker, output_sink
from silik_kernel.tools.definitions import SilikTools

__all__ = [
    "LocalBackend",
    "SilikBackend",
    "SilikSettings",
    "SilikTools",
    "SilikToolset",
    "ToolPolicy",
    "function_tool_names",
    "input_asker",
    "output_sink",
    "silik_toolset",
]


def pydantic_ai_tool(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a shared tool) with the same name, signature and docstring, failing
    with ToolFailed and returning images as BinaryContent.

    ToolFailed rather than ModelRetry: it does not use up the tool's retry
    budget, so a model that keeps getting a path wrong can never crash the cell.
    """

    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await fn(*args, **kwargs)
        except ToolError as exc:
            raise ToolFailed(exc.message) from None
        if isinstance(result, list):
            return [_binary(item) for item in result]
        return result

    return tool


def _binary(item: Any) -> Any:
    if isinstance(item, Image):
        return BinaryContent(data=item.data, media_type=item.mime)
    return item


class SilikToolset(FunctionToolset[Any]):
    """The silik tools as a pydantic-ai toolset; ``silik_tools`` is the state behind them.

    A FunctionToolset, so ``tools[name].function`` calls a tool directly, and an
    AgentKernel sees the tools of an agent that carries this toolset as the agent's own.
    """

    def __init__(self, silik_tools: SilikTools, include: Callable[[str], bool] | None = None):
        ask = silik_tools.policy.require_approval
        super().__init__(
            [
                Tool(pydantic_ai_tool(fn), requires_approval=fn.__name__ in ask)
                for fn in silik_tools.functions()
                if include is None or include(fn.__name__)
            ]
        )
        self.silik_tools = silik_tools


def function_tool_names(agent: Any) -> set[str]:
    """The names of the tools an agent has in its own function toolsets."""
    toolsets = agent.toolsets if agent is not None else []
    return {name for ts in toolsets if isinstance(ts, FunctionToolset) for name in ts.tools}


def silik_toolset(
    backend: SilikBackend,
    policy: ToolPolicy | None = None,
    *,
    include: Callable[[str], bool] | None = None,
) -> SilikToolset:
    """The silik tools for a pydantic-ai agent.

    ``include(name)`` filters tools; tools named in ``policy.require_approval``
    ask the human (the AgentKernel shows a y/N prompt).
    """
    return SilikToolset(SilikTools(backend, policy), include)
