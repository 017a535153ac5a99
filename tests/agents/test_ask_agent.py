"""Agents asking agents (ask_agent) in one silik tree: real agent kernels, scripted
models (agents_fixtures/team.py), one silik shared by the module."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from agents_fixtures.kernels import (
    agent_prefix,
    clean_env,
    final_display,
    printed,
    shown_displays,
    team_config_dir,
)
from conftest import KernelDriver

from silik_agents.approvals import NO_STDIN_REASON


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A silik with the agents a, b, c and d (each may use the others)."""
    config = team_config_dir(tmp_path_factory.mktemp("team-config"))
    env = clean_env(
        JUPYTER_PATH=str(agent_prefix() / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(config)
    )
    driver = KernelDriver("silik", env=env)
    try:
        driver.ok("new team -l a b c d", timeout=60)
        yield driver
    finally:
        driver.shutdown()


def say(silik: KernelDriver, agent: str, message: str, **kw):
    """A cell typed to ``agent`` in connect mode."""
    silik.ok(f"> {agent}")
    try:
        return silik.execute(message, timeout=60, **kw)
    finally:
        silik.ok("/cmd")


def answer(res) -> str:
    return final_display(res)["text/plain"]


def test_an_agent_asks_another_and_gets_its_answer_and_tools(team):
    res = say(team, "a.txt", "ask ~/b.txt hello there")
    assert res.status == "ok"
    assert "~/b.txt answered: heard: hello there (turn 1) [tools: none]" in answer(res)
    meta = res.reply["metadata"]["silik_agents"]
    assert meta["version"] == 1 and meta["tools"] == ["ask_agent"]
    assert meta["answer"].startswith("~/b.txt answered:")


def test_each_asker_has_its_own_thread_and_fresh_starts_it_anew(team):
    say(team, "c.txt", "fresh ~/d.txt one")
    second = answer(say(team, "c.txt", "ask ~/d.txt two"))
    assert "heard: two (turn 2)" in second
    # another asker (b), and the human in connect mode, have conversations of their own
    assert "heard: three (turn 1)" in answer(say(team, "b.txt", "fresh ~/d.txt three"))
    assert "heard: mine (turn 1)" in answer(say(team, "d.txt", "mine"))
    assert "heard: four (turn 1)" in answer(say(team, "c.txt", "fresh ~/d.txt four"))


def test_a_code_kernel_a_cycle_and_a_deep_chain_are_refused_naming_the_chain(team):
    team.ok("new python3 -l calc")
    try:
        text = answer(say(team, "a.txt", "ask ~/calc.py hello"))
        assert "That failed: ~/calc.py is a python3 kernel, not an agent kernel" in text
    finally:
        team.ok("rm calc.py")
    cycle = answer(say(team, "a.txt", "ask ~/b.txt ask ~/a.txt hi"))
    assert "would make a cycle (~/a.txt → ~/b.txt → ~/a.txt)" in cycle
    deep = answer(say(team, "a.txt", "ask ~/b.txt ask ~/c.txt ask ~/d.txt hi"))
    assert "~/a.txt → ~/b.txt → ~/c.txt → ~/d.txt is 3 agents deep, more than max_depth = 2" in deep


def test_the_delegates_work_shows_under_the_call_labelled_once_each_in_order(team):
    res = say(team, "a.txt", "ask ~/b.txt fresh ~/c.txt nested hi")
    console = printed(res)  # what jupyter console prints: each placed part once
    expected = [
        "[tool] ask_agent(path='~/b.txt'",
        "── ~/b.txt ──\n",
        "[tool] ask_agent(path='~/c.txt'",
        "── ~/c.txt ──\n",
        "heard: nested hi (turn 1)\n",
        "~/c.txt answered: heard: nested hi",
        "~/b.txt answered: ~/c.txt answered:",
    ]
    where = [console.find(text) for text in expected]
    assert -1 not in where and where == sorted(where), console
    assert console.count("heard: nested hi (turn 1)\n") == 1
    # a notebook shows the same parts, each call updated in place to its result
    shown = [d.get("text/plain", "") for d in shown_displays(res) if "text/plain" in d]
    assert shown[0].startswith("[tool] ask_agent(path='~/b.txt'") and "answered" in shown[0]
    assert shown[2] == "heard: nested hi (turn 1)"
    # forwarded displays carry prefixed ids, so they cannot meet the asking kernel's
    ids = [m["content"]["transient"].get("display_id", "") for m in res.of_type("display_data")]
    assert sum(i.startswith("asked-") for i in ids) >= 4


def test_a_delegates_approval_asks_the_human_at_the_top_naming_who_asks(team):
    team.stdin_answers = ["y"]
    yes = answer(say(team, "a.txt", "ask ~/b.txt cmd ls ~", allow_stdin=True))
    assert team.input_prompts[-1]["prompt"].startswith("~/b.txt wants silik: command='ls ~'")
    assert team.input_prompts[-1]["prompt"].endswith("[y/N] ")
    assert "~/b.txt answered: Done:" in yes and "a.txt" in yes
    # two levels down, the prompt comes up as the asked agent worded it
    team.stdin_answers = ["n"]
    no = answer(say(team, "a.txt", "ask ~/b.txt ask ~/c.txt cmd ls ~", allow_stdin=True))
    assert team.input_prompts[-1]["prompt"].startswith("~/c.txt wants silik: command='ls ~'")
    assert "That failed: The user denied this tool call." in no
    # without stdin at the top, the call below is denied and the model told why
    asked = len(team.input_prompts)
    nobody = answer(say(team, "a.txt", "ask ~/b.txt ask ~/c.txt cmd ls ~", allow_stdin=False))
    assert len(team.input_prompts) == asked
    assert NO_STDIN_REASON in nobody


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    time.sleep(0.1)  # the pid is written


def _idle(silik: KernelDriver, *paths: str) -> bool:
    tree = silik.ok("tree").text
    return all(f"{p}  [team idle" in tree for p in paths)


def test_one_interrupt_stops_every_delegated_run_below_within_two_seconds(team, tmp_path):
    marker = tmp_path / "c-sleeps"
    team.ok("> a.txt")
    msg_id = team.kc.execute(f"ask ~/b.txt fresh ~/c.txt sleep 30 {marker}", allow_stdin=False)
    _wait_for(marker)
    started = time.monotonic()
    team.km.interrupt_kernel()
    res = team.collect(msg_id, timeout=10)
    top = time.monotonic() - started
    assert res.status == "error" and res.content["ename"] == "KeyboardInterrupt"
    team.ok("/cmd")
    while not _idle(team, "b.txt", "c.txt"):
        assert time.monotonic() - started < 5, team.ok("tree").text
        time.sleep(0.05)
    below = time.monotonic() - started
    print(f"interrupt: top cell ended in {top:.3f} s, every run below in {below:.3f} s")
    assert top <= 2 and below <= 2, (top, below)
    # every kernel alive and answering; the interrupted turn is in no conversation
    assert "heard: after (turn 1)" in answer(say(team, "b.txt", "ask ~/c.txt after"))
    assert "~/b.txt answered" in answer(say(team, "a.txt", "ask ~/b.txt hello"))


def test_a_delegate_that_takes_too_long_is_interrupted_and_the_model_told(team):
    started = time.monotonic()
    text = answer(say(team, "a.txt", "within 1 ~/b.txt sleep 30"))
    assert "That failed: ~/b.txt did not answer within 1 s and was interrupted" in text
    assert time.monotonic() - started < 10
    assert _idle(team, "b.txt")


def test_a_delegate_killed_mid_turn_is_reported_to_its_caller_within_two_seconds(team, tmp_path):
    marker = tmp_path / "victim-sleeps"
    team.ok("new team -l victim", timeout=60)
    try:
        team.ok("> a.txt")
        msg_id = team.kc.execute(f"ask ~/victim.txt sleep 30 {marker}", allow_stdin=False)
        _wait_for(marker)
        started = time.monotonic()
        os.kill(int(marker.read_text()), signal.SIGKILL)
        res = team.collect(msg_id, timeout=10)
        took = time.monotonic() - started
        team.ok("/cmd")
    finally:
        team.ok("rm victim.txt")  # its automatic restart included
    text = answer(res)
    assert "That failed: ~/victim.txt died during its turn" in text, text
    print(f"killed delegate reported in {took:.3f} s")
    assert took <= 2, took
