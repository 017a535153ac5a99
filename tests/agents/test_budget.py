"""Per-turn budgets of an agent kernel, and the usage its replies carry.

The `meter` agent (tests/agents_fixtures/meter.py) spends a known number of
requests, tokens and tool calls per turn, so every number here is exact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agents_fixtures.kernels import (
    KERNEL_PYTHONPATH,
    AgentDriver,
    agent_prefix,
    clean_env,
    execute_with_metadata,
    final_display,
)
from agents_fixtures.meter import expected_usage
from conftest import KernelDriver
from pydantic_ai import Agent
from pydantic_ai.models.function import DeltaToolCall, FunctionModel

from silik_agents.__main__ import main
from silik_agents.budget import LimitSettings, TurnBudget, UsageLedger, turn_budget
from silik_agents.errors import AgentError

METER = "agents_fixtures.meter:agent"


@pytest.fixture(scope="module")
def meter_dirs(tmp_path_factory):
    """A prefix with the meter agent as `meter` and `meter-capped`, and a config dir
    where meter-capped has a budget."""
    prefix = tmp_path_factory.mktemp("meter-prefix")
    for name in ("meter", "meter-capped"):
        main(
            ["install", METER, "--name", name, "--prefix", str(prefix), "--no-check"]
            + ["--env", f"PYTHONPATH={KERNEL_PYTHONPATH}"]
        )
    config = tmp_path_factory.mktemp("meter-config")
    (config / "silik_agents").mkdir()
    (config / "silik_agents" / "meter-capped.toml").write_text(
        "[limits]\nrequests = 2\ncost = 0.5\n"
    )
    return [str(prefix / "share" / "jupyter" / "kernels")], config


@pytest.fixture(scope="module")
def meter(meter_dirs):
    dirs, config = meter_dirs
    driver = AgentDriver("meter", str(config), dirs=dirs)
    try:
        yield driver
    finally:
        driver.shutdown()


@pytest.fixture(scope="module")
def capped(meter_dirs):
    dirs, config = meter_dirs
    driver = AgentDriver("meter-capped", str(config), dirs=dirs)
    try:
        yield driver
    finally:
        driver.shutdown()


def _with_cost(usage: dict[str, int]) -> dict[str, object]:
    return {**usage, "cost": None}  # FunctionModel has no price


def _sum(*usages: dict[str, int]) -> dict[str, int]:
    return {k: sum(u[k] for u in usages) for k in usages[0]}


def _ask(driver: AgentDriver, code: str, limits: dict | None = None, asked_by: str | None = None):
    section: dict = {"version": 1}
    if limits is not None:
        section["limits"] = {"requests": None, "total_tokens": None, "tool_calls": None,
                             "cost": None, **limits}  # fmt: skip
    if asked_by:
        section["delegation"] = {"path": "~/m.txt", "asked_by": asked_by, "depth": 1}
    return driver.collect(execute_with_metadata(driver, code, {"silik_agents": section}))


def test_config_request_limit_stops_the_turn_and_keeps_the_conversation(capped):
    first = capped.ok("tick 1")
    # A cost limit with no known price is said once, in the cell, never silently.
    assert "cost limit ([limits] cost in" in first.stderr and "cannot be enforced" in first.stderr
    meta = first.reply["metadata"]["silik_agents"]
    assert meta["usage"] == _with_cost(expected_usage(1))
    history = capped.ok("/history").text
    res = capped.fails("tick 2")
    config = capped.config_dir / "silik_agents" / "meter-capped.toml"
    assert res.content["ename"] == "UsageLimitExceeded"
    assert res.content["evalue"] == (
        f"this turn used 2 of 2 requests ([limits] requests in {config}); "
        "raise it or ask a smaller question"
    )
    assert "cannot be enforced" not in res.stderr
    assert capped.ok("/history").text == history  # the failed turn left no half turn
    # The failed turn's usage is in its reply and counts in the total.
    failed = res.reply["metadata"]["silik_agents"]
    spent = {"requests": 2, "input_tokens": 100, "output_tokens": 2, "total_tokens": 102,
             "tool_calls": 2}  # fmt: skip
    assert failed["usage"] == _with_cost(spent)
    assert failed["usage_total"] == _with_cost(_sum(expected_usage(1), spent))
    assert failed["model"] == "function:meter-script" and failed["version"] == 1
    assert failed["delegated"] == {}


def test_request_limits_are_clamped_by_the_smaller_one(capped):
    # The caller's 5 requests do not raise the config's 2...
    res = _ask(capped, "tick 2", {"requests": 5})
    assert res.status == "error" and "2 of 2 requests ([limits] requests" in res.content["evalue"]
    # ...and its 1 lowers them, named as the caller's.
    res = _ask(capped, "tick 1", {"requests": 1}, asked_by="~/lead")
    assert res.content["evalue"] == (
        "this turn used 1 of 1 requests (the limit ~/lead gave this turn); "
        "raise it or ask a smaller question"
    )


def test_tool_call_and_token_limits(meter):
    meter.ok("/reset")
    res = _ask(meter, "tick 3", {"tool_calls": 2}, asked_by="~/lead")
    assert res.status == "error"
    assert res.content["evalue"].startswith("this turn used 2 of 2 tool calls (the limit ~/lead")
    assert res.reply["metadata"]["silik_agents"]["usage"]["tool_calls"] == 2
    # tokens are checked after each response: 51 per response here
    res = _ask(meter, "tick 3", {"total_tokens": 100})
    assert res.content["evalue"].startswith("this turn used 102 of 100 tokens (the limit its")
    assert meter.ok("/history").text.strip() == "The conversation is empty."
    ok = _ask(meter, "tick 3", {"total_tokens": 204, "tool_calls": 3, "requests": 4})
    assert ok.status == "ok"
    assert ok.reply["metadata"]["silik_agents"]["usage"] == _with_cost(expected_usage(3))


def test_bad_limits_are_refused_with_the_shape_to_send(meter):
    res = _ask(meter, "hi", {"requests": "five"})
    assert res.content["ename"] == "BadMetadata"
    assert "silik_agents.limits requests must be a number >= 0 or null" in res.content["evalue"]


def test_reply_usage_totals_are_exact_and_usage_shows_them(meter_dirs):
    dirs, config = meter_dirs
    driver = AgentDriver("meter", str(config), dirs=dirs)
    try:
        one = driver.ok("tick 1").reply["metadata"]["silik_agents"]
        two = driver.ok("tick 2").reply["metadata"]["silik_agents"]
        assert one["usage"] == one["usage_total"] == _with_cost(expected_usage(1))
        assert two["usage"] == _with_cost(expected_usage(2))
        total = _sum(expected_usage(1), expected_usage(2))
        assert two["usage_total"] == _with_cost(total)
        assert two["model"] == "function:meter-script"
        text = driver.ok("/usage").text
        row = f"this kernel  {total['requests']}         {total['input_tokens']}"
        assert row in text and " 3           -" in text, text
        assert "Model: function:meter-script. Turns: 2. It asked no other agent." in text
    finally:
        driver.shutdown()


# -- in process: the hook an asking tool uses ------------------------------------------


async def _asks(messages, info):
    if len(messages) == 1:
        yield {0: DeltaToolCall(name="ask_someone", json_args="{}", tool_call_id="a")}
    else:
        yield "done"


async def test_a_delegates_spending_counts_against_the_askers_budget():
    seen: list[dict] = []
    delegate_spent = {"requests": 3, "input_tokens": 150, "output_tokens": 3,
                      "total_tokens": 153, "tool_calls": 2, "cost": None}  # fmt: skip
    asker = Agent(FunctionModel(stream_function=_asks))

    @asker.tool_plain
    def ask_someone() -> str:
        """What an ask_agent tool does with the running turn's budget."""
        budget = turn_budget.get()
        assert budget is not None
        seen.append(budget.remaining())
        budget.add_delegated("~/helper.txt", delegate_spent)
        seen.append(budget.remaining())
        return "asked"

    ledger = UsageLedger(lambda *_: None)

    async def run(budget: TurnBudget) -> None:
        async def turn() -> None:
            async with asker.run_stream_events("ask", **budget.run_options()) as events:
                async for _ in events:
                    pass

        await ledger.run(budget, turn, "function:asker")

    budget = TurnBudget.for_turn(LimitSettings(requests=10, total_tokens=1000), "m.toml", None, "")
    await run(budget)
    # before: one response (51 tokens) spent; after: the delegate's too; one request
    # is always kept for the asker's answer
    assert seen == [
        {"requests": 8, "total_tokens": 949, "tool_calls": None, "cost": None},
        {"requests": 5, "total_tokens": 796, "tool_calls": None, "cost": None},
    ]
    assert budget.delegated == {"~/helper.txt": delegate_spent}
    assert ledger.last["delegated"] == {"~/helper.txt": delegate_spent}
    assert ledger.last["usage"]["requests"] == 2 and ledger.last["model"] == "function:asker"
    # With 4 requests, the delegate's 3 and the turn's first leave none for the answer.
    budget = TurnBudget.for_turn(LimitSettings(requests=4), "m.toml", None, "")
    with pytest.raises(AgentError) as caught:
        await run(budget)
    assert caught.value.ename == "UsageLimitExceeded"
    assert caught.value.message == (
        "this turn used 4 of 4 requests ([limits] requests in m.toml); "
        "raise it or ask a smaller question"
    )
    # what the kernel's /usage lists per asked agent: both turns' delegations
    assert ledger.delegated["~/helper.txt"]["requests"] == 6
    assert turn_budget.get() is None


def test_a_delegate_gets_what_is_left_and_its_running_out_is_a_tool_result(meter_dirs, tmp_path):
    """A lead with 3 requests a turn asks the meter for a 6-request job: its ask took
    one request and one is kept for its answer, so the meter gets 1, runs out, and
    the lead answers with that failure as its tool result."""
    dirs, _ = meter_dirs
    config = tmp_path / "config"
    (config / "silik_agents").mkdir(parents=True)
    (config / "silik_agents" / "team.toml").write_text(
        "[silik]\nuse_other_kernels = true\n\n[limits]\nrequests = 3\n"
    )
    shares = [agent_prefix() / "share" / "jupyter", Path(dirs[0]).parent]
    env = clean_env(
        JUPYTER_PATH=os.pathsep.join(str(p) for p in shares), JUPYTER_CONFIG_DIR=str(config)
    )
    silik = KernelDriver("silik", env=env)
    try:
        silik.ok("new team -l lead\nnew meter -l m", timeout=60)
        silik.ok("> lead.txt")
        res = silik.execute("ask ~/m.txt tick 5", timeout=60)
        silik.ok("/cmd")
        assert res.status == "ok"
        text = final_display(res)["text/plain"]
        assert "That failed: ~/m.txt could not answer: UsageLimitExceeded: this turn used " in text
        assert "1 of 1 requests (the limit ~/lead.txt gave this turn)" in text
        meta = res.reply["metadata"]["silik_agents"]
        assert meta["usage"]["requests"] == 2  # the ask, then the answer
        assert meta["delegated"]["~/m.txt"]["requests"] == 1
        rows = {line.split()[0]: line.split() for line in silik.ok("usage").text.splitlines()}
        assert rows["~/m.txt"][2] == "1" and rows["~/lead.txt"][2] == "2"
    finally:
        silik.shutdown()
