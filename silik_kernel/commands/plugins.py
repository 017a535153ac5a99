"""Commands from other packages, found through the ``silik.commands`` entry points.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."silik.commands"]
    timeit = "silik_timeit:commands"

The entry point names either a :class:`CommandRegistry` whose commands are
declared with ``@commands.command(...)``, or a function ``register(registry)``
that declares them on the registry it is given. Each plugin's commands get a
``help`` section of their own unless they name one. A plugin that fails (import
error, exception, a name that is taken) adds none of its commands; the failure
is kept in ``registry.problems`` and the kernel starts anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from silik_kernel.commands.registry import CommandRegistry

log = logging.getLogger("silik.plugins")

ENTRY_POINT_GROUP = "silik.commands"


def installed_plugins() -> list[EntryPoint]:
    """The group's entry points, in a stable order (by distribution, then name)."""
    found = entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (_dist_name(ep), ep.name))


def load_plugins(base: CommandRegistry, plugins: Iterable[Any] | None = None) -> CommandRegistry:
    """A copy of ``base`` with every plugin's commands added; ``base`` is unchanged.

    ``plugins`` defaults to the installed entry points; anything with ``name``,
    ``value`` and ``load()`` will do (tests pass their own).
    """
    registry = base.copy()
    for ep in installed_plugins() if plugins is None else plugins:
        label = f"{_dist_name(ep)} ({ep.name} = {ep.value})"
        try:
            registry = _with_plugin(registry, ep)
        except Exception as exc:
            log.warning("silik plugin %s was not loaded", label, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            registry.problems.append(f"plugin {label}: {reason}")
    return registry


def _with_plugin(registry: CommandRegistry, ep: Any) -> CommandRegistry:
    """``registry`` plus the plugin's commands: all of them, or an exception and none."""
    section = f"{_dist_name(ep)} (plugin)"
    target = ep.load()
    if isinstance(target, CommandRegistry):
        declared = list(target.commands.values())
    elif callable(target):
        staging = CommandRegistry(section)
        target(staging)
        declared = list(staging.commands.values())
    else:
        raise TypeError(
            f"{ep.value} is a {type(target).__name__}; "
            "it must be a CommandRegistry or a function taking one"
        )
    trial = registry.copy()
    for cmd in declared:
        trial.add(replace(cmd, section=cmd.section or section))
    return trial


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or ep.name
