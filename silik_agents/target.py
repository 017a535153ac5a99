"""``PACKAGE.MODULE:ATTR``: where a kernel's agent comes from.

ATTR is an ``Agent``, a zero-argument factory returning one, or an
``AgentKernel`` subclass. Loading never raises: a target that fails to import
gives a kernel that starts anyway and reports the failure in every chat cell.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

from pydantic_ai.agent import AbstractAgent

from silik_agents.kernel import AgentKernel


class TargetError(Exception):
    """The target string is malformed or does not name anything."""


def import_target(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"{target!r} is not PACKAGE.MODULE:ATTR (e.g. cook.agent:agent)")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise TargetError(
                f"no module named {exc.name!r} (from {target!r}) in {sys.executable}: its "
                "package is not installed in this Python, nor on its path"
            ) from None
        raise
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{module_name} has no attribute {attr!r}") from None
    return obj


def check_target(obj: Any, target: str) -> None:
    """Refuse objects that cannot become an agent kernel."""
    if isinstance(obj, AbstractAgent):
        return
    if isinstance(obj, type) and issubclass(obj, AgentKernel):
        return
    if callable(obj) and not isinstance(obj, type):
        return
    raise TargetError(
        f"{target} is a {type(obj).__name__}; it must be a pydantic-ai Agent, a function "
        "returning one, or an AgentKernel subclass"
    )


def kernel_class_for(target: str, name: str | None = None) -> type[AgentKernel]:
    """The kernel class that `python -m silik_agents run TARGET` starts."""
    attrs: dict[str, Any] = {"agent_target": target, "kernel_name": name, "__module__": __name__}
    try:
        obj = import_target(target)
        check_target(obj, target)
    except Exception as exc:
        detail = exc if isinstance(exc, TargetError) else "".join(traceback.format_exception(exc))
        attrs["load_error"] = f"could not load {target}: {detail}".rstrip()
        return type("AgentKernel", (AgentKernel,), attrs)
    if isinstance(obj, type):
        if name is None:
            attrs["kernel_name"] = obj.kernel_name
        attrs["__module__"] = obj.__module__
        return type(obj.__name__, (obj,), attrs)
    if isinstance(obj, AbstractAgent):
        attrs["agent"] = obj
    else:
        attrs["make_agent"] = _factory_method(obj, target)
    return type("AgentKernel", (AgentKernel,), attrs)


def _factory_method(factory: Any, target: str) -> Any:
    def make_agent(self: AgentKernel) -> AbstractAgent[Any, Any]:
        agent = factory()
        if not isinstance(agent, AbstractAgent):
            raise TypeError(f"{target}() returned {type(agent).__name__}, not a pydantic-ai Agent")
        return agent

    return make_agent
