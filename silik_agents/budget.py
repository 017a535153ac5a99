"""Per-turn budgets and the usage an agent kernel reports.

A turn's limits are the ``[limits]`` of the agent's config, clamped by the
``limits`` a caller sends in the request metadata (an agent asking this one
passes what is left of its own budget). pydantic-ai enforces them on the turn's
own usage (``UsageLimits``); :class:`BudgetGuard` also counts what the turn's
delegates spent, before each model request.

:data:`turn_budget` holds the running turn's :class:`TurnBudget`, so a tool that
asks another agent (``ask_agent``) can send ``remaining()`` as that turn's limits
and report back with ``add_delegated``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import CostNotFoundWarning, UsageLimitExceeded
from pydantic_ai.usage import RunUsage, UsageLimits

from silik_agents.errors import AgentError
from silik_kernel.tools.base import turn_budget  # shared with the tools, which every face has

#: The limit kinds, as ``[limits]`` keys and in request/reply metadata.
KINDS = ("requests", "total_tokens", "tool_calls", "cost")
_NOUNS = {"requests": "requests", "total_tokens": "tokens", "tool_calls": "tool calls"}
_PYDANTIC_NAMES = {
    "request_limit": "requests",
    "total_tokens_limit": "total_tokens",
    "tool_calls_limit": "tool_calls",
    "cost_limit": "cost",
}


class LimitSettings(BaseModel):
    """The ``[limits]`` section of an agent's config: each turn's budget (none by default)."""

    model_config = ConfigDict(extra="forbid")

    requests: int | None = Field(default=None, ge=0, description="model requests per turn")
    total_tokens: int | None = Field(default=None, ge=0, description="input + output tokens")
    tool_calls: int | None = Field(default=None, ge=0, description="tool calls per turn")
    cost: float | None = Field(default=None, ge=0, description="USD, when the price is known")


Limits = dict[str, int | float | None]
T = TypeVar("T")


def usage_dict(usage: RunUsage | None) -> dict[str, Any]:
    """A usage as reply metadata carries it (``cost`` None when the price is unknown)."""
    u = usage or RunUsage()
    return {
        "requests": u.requests,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "tool_calls": u.tool_calls,
        "cost": None if u.cost is None else float(u.cost),
    }


def add_usage(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Two usage dicts summed; a cost stays None only when both are unknown."""
    out = dict(total)
    for key in ("requests", "input_tokens", "output_tokens", "total_tokens", "tool_calls"):
        out[key] = int(total.get(key) or 0) + int(more.get(key) or 0)
    costs = [c for c in (total.get("cost"), more.get("cost")) if isinstance(c, (int, float))]
    out["cost"] = float(sum(costs)) if costs else None
    return out


def format_cost(cost: float | None) -> str:
    """A cost for people: dollars, or "-" when the price is unknown."""
    return "-" if cost is None else f"${cost:.6f}"


def limits_from_metadata(section: Any) -> Limits | None:
    """The ``limits`` of a request's ``silik_agents`` metadata, checked; None if absent."""
    if not isinstance(section, dict) or section.get("limits") is None:
        return None
    given = section["limits"]
    if not isinstance(given, dict) or set(given) - set(KINDS):
        raise _bad_limits(f"must be an object with keys among {', '.join(KINDS)}")
    out: Limits = {}
    for kind in KINDS:
        value = given.get(kind)
        number = (int, float) if kind == "cost" else (int,)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, number) or value < 0
        ):
            raise _bad_limits(f"{kind} must be a number >= 0 or null, not {value!r}")
        out[kind] = value
    return out


def budget_of_request(
    settings: LimitSettings, config_file: str, meta: dict[str, Any] | None
) -> TurnBudget:
    """The budget of the turn a request starts: the config's, clamped by its metadata's."""
    section = (meta or {}).get("silik_agents")
    given = limits_from_metadata(section)
    delegation = section.get("delegation") if isinstance(section, dict) else None
    asked_by = delegation.get("asked_by") if isinstance(delegation, dict) else None
    return TurnBudget.for_turn(settings, config_file, given, str(asked_by or "its caller"))


def _bad_limits(what: str) -> AgentError:
    return AgentError(
        f"execute_request metadata silik_agents.limits {what}",
        'send e.g. {"silik_agents": {"limits": {"requests": 5, "total_tokens": null}}}',
        ename="BadMetadata",
    )


@dataclass
class TurnBudget:
    """One turn's limits and what it spent so far: its own live usage (shared with
    the run) and what the agents it asked spent."""

    limits: Limits
    #: where each limit came from, for the message when it runs out
    sources: dict[str, str] = field(default_factory=dict)
    usage: RunUsage = field(default_factory=RunUsage)
    delegated: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: UsageLedger | None = None

    @classmethod
    def for_turn(
        cls, settings: LimitSettings, config_file: str, given: Limits | None, asked_by: str
    ) -> TurnBudget:
        """The config's limits, each lowered to what a caller gave (``given``)."""
        limits: Limits = {}
        sources: dict[str, str] = {}
        for kind in KINDS:
            own = getattr(settings, kind)
            theirs = (given or {}).get(kind)
            if theirs is not None and (own is None or theirs < own):
                limits[kind] = theirs
                sources[kind] = f"the limit {asked_by} gave this turn"
            else:
                limits[kind] = own
                sources[kind] = f"[limits] {kind} in {config_file}"
        return cls(limits, sources)

    def spent(self) -> dict[str, Any]:
        """The turn's own usage plus its delegates'."""
        total = usage_dict(self.usage)
        for used in self.delegated.values():
            total = add_usage(total, used)
        return total

    def remaining(self) -> Limits:
        """What a delegated turn may spend (None: no limit): what is left of each
        limit, less one request kept for this turn to answer after the delegate,
        so that a delegate running out is a tool result this turn can carry on from."""
        spent = self.spent()
        out: Limits = {}
        for kind in KINDS:
            limit = self.limits.get(kind)
            if limit is None:
                out[kind] = None
            elif kind == "cost":
                out[kind] = max(0.0, float(limit) - float(spent["cost"] or 0.0))
            else:
                kept = 1 if kind == "requests" else 0
                out[kind] = max(0, int(limit) - int(spent[kind]) - kept)
        return out

    def add_delegated(self, path: str, usage: dict[str, Any]) -> None:
        """What an asked agent spent for this turn (it counts against this budget)."""
        self.delegated[path] = add_usage(self.delegated.get(path, {}), usage)
        if self.ledger is not None:
            self.ledger.add_delegated(path, usage)

    def usage_limits(self) -> UsageLimits:
        """pydantic-ai's limits for the turn's own usage (its default request limit
        stays when ``requests`` is not set)."""
        limits = UsageLimits()
        if self.limits["requests"] is not None:
            limits.request_limit = int(self.limits["requests"])
        limits.total_tokens_limit = _int_or_none(self.limits["total_tokens"])
        limits.tool_calls_limit = _int_or_none(self.limits["tool_calls"])
        if self.limits["cost"] is not None:
            limits.cost_limit = Decimal(str(self.limits["cost"]))
        return limits

    def run_options(self) -> dict[str, Any]:
        """What the turn's agent run gets: its live usage is this budget's."""
        return {
            "usage": self.usage,
            "usage_limits": self.usage_limits(),
            "capabilities": [BudgetGuard(self)],
        }

    def check_with_delegates(self) -> None:
        """Raise UsageLimitExceeded when the turn and its delegates together ran out."""
        if not self.delegated:
            return  # pydantic-ai checks the turn's own usage
        spent = self.spent()
        for kind in KINDS:
            limit = self.limits.get(kind)
            used = spent[kind] if kind != "cost" else spent["cost"]
            if limit is None or used is None:
                continue
            if used > limit or (kind == "requests" and used >= limit):
                raise UsageLimitExceeded(f"{kind}_limit of {limit} reached with its delegates")

    def exceeded(self, exc: UsageLimitExceeded) -> AgentError:
        """The error cell of a turn that ran out: which limit, how much, where it is set."""
        kind = _kind_of(str(exc))
        if kind is None:
            return AgentError(str(exc), None, ename="UsageLimitExceeded")
        spent = self.spent()
        limit = self.limits.get(kind)
        if kind == "cost":
            used = f"{format_cost(spent['cost'] or 0.0)} of {format_cost(float(limit or 0))}"
        else:
            used = f"{spent[kind]} of {limit} {_NOUNS[kind]}"
        where = self.sources.get(kind, f"[limits] {kind}")
        return AgentError(
            f"this turn used {used} ({where}); raise it or ask a smaller question",
            None,
            ename="UsageLimitExceeded",
        )


def _int_or_none(value: int | float | None) -> int | None:
    return None if value is None else int(value)


def _kind_of(message: str) -> str | None:
    m = re.search(r"\b(request|total_tokens|tool_calls|cost|requests)_limit", message)
    if m is None:
        return None
    name = m.group(1)
    return "requests" if name in ("request", "requests") else _PYDANTIC_NAMES[name + "_limit"]


@dataclass
class BudgetGuard(AbstractCapability[Any]):
    """Stops a turn before its next model request once it and its delegates together
    spent a limit (pydantic-ai counts only the turn's own usage)."""

    budget: TurnBudget

    async def before_model_request(self, ctx: Any, request_context: Any) -> Any:
        self.budget.check_with_delegates()
        return request_context


@dataclass
class UsageLedger:
    """What one agent kernel spent since it started, every thread, and its delegates'.
    ``publish`` sends output to the cell of the running turn."""

    publish: Callable[[str, dict[str, Any]], None]
    total: RunUsage = field(default_factory=RunUsage)
    delegated: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: str | None = None  # the model of the latest turn
    cost_warned: bool = False
    last: dict[str, Any] = field(default_factory=dict)  # the latest turn's reply metadata

    def __post_init__(self) -> None:
        quiet_cost_warning()

    async def run(
        self,
        budget: TurnBudget,
        turn: Callable[[], Awaitable[T]],
        model: str,
    ) -> T:
        """Run ``turn`` under ``budget`` (the :data:`turn_budget` meanwhile) and count
        what it spent, finished or not, in :attr:`last`; running out is an AgentError."""
        budget.ledger = self
        token = turn_budget.set(budget)
        try:
            return await turn()
        except UsageLimitExceeded as exc:
            raise budget.exceeded(exc) from None
        finally:
            turn_budget.reset(token)
            self.last = self.end(budget, model)
            warning = self.cost_warning(budget)
            if warning:
                self.publish("stream", {"name": "stderr", "text": warning})

    def add_delegated(self, path: str, usage: dict[str, Any]) -> None:
        self.delegated[path] = add_usage(self.delegated.get(path, {}), usage)

    def end(self, budget: TurnBudget, model: str) -> dict[str, Any]:
        """Count a turn (finished or not) and return the reply metadata it adds."""
        self.total.incr(budget.usage)
        self.model = model
        return {
            "usage": usage_dict(budget.usage),
            "usage_total": usage_dict(self.total),
            "delegated": {path: dict(u) for path, u in self.delegated.items()},
            "model": model,
        }

    def cost_warning(self, budget: TurnBudget) -> str | None:
        """Once per session: a cost limit is set but this model's price is unknown."""
        if self.cost_warned or budget.limits.get("cost") is None:
            return None
        if budget.usage.requests == 0 or budget.usage.cost is not None:
            return None
        self.cost_warned = True
        return (
            f"warning: the cost limit ({budget.sources['cost']}) cannot be enforced: "
            f"the price of {self.model} is not known (genai-prices has no entry for it); "
            "requests, total_tokens and tool_calls limits still apply\n"
        )


def quiet_cost_warning() -> None:
    """pydantic-ai warns after every turn whose cost limit it cannot price;
    :meth:`UsageLedger.cost_warning` says it once, in the cell, with the way out."""
    warnings.filterwarnings("ignore", category=CostNotFoundWarning)


#: The running turn's budget (None outside a turn); set by the AgentKernel.
