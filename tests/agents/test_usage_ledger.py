"""silik's usage ledger and agent marks: what agent kernels' replies report, wherever
the request came from (`run`, connect mode, the service), shown by `usage`, `tree`, `ls`
and the service's list_tree."""

from __future__ import annotations

import asyncio

import pytest
from agents_fixtures.kernels import KERNEL_PYTHONPATH, clean_env
from agents_fixtures.meter import expected_usage
from conftest import KernelDriver
from jupyter_client.kernelspec import KernelSpecManager

from silik_agents.__main__ import main
from silik_kernel.manager import SilikManager
from silik_kernel.service import ManagerService

METER = "agents_fixtures.meter:agent"


@pytest.fixture(scope="module")
def meter_env(tmp_path_factory):
    """A prefix with the meter agent as `meter` and as `meter-set`, whose config names
    its model, and the environment a silik finds them with."""
    prefix = tmp_path_factory.mktemp("ledger-prefix")
    for name in ("meter", "meter-set"):
        main(
            ["install", METER, "--name", name, "--prefix", str(prefix), "--no-check"]
            + ["--env", f"PYTHONPATH={KERNEL_PYTHONPATH}"]
        )
    config = tmp_path_factory.mktemp("ledger-config")
    (config / "silik_agents").mkdir()
    (config / "silik_agents" / "meter-set.toml").write_text('model = "test"\n')
    return prefix, config


@pytest.fixture(scope="module")
def parent(meter_env):
    prefix, config = meter_env
    env = clean_env(JUPYTER_PATH=str(prefix / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(config))
    driver = KernelDriver("silik", env=env)
    try:
        yield driver
    finally:
        driver.shutdown()


def _row(text: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first``."""
    line = next(line for line in text.splitlines() if line.startswith(first + " "))
    return line.split()


def test_usage_adds_up_what_agents_replied_through_run_and_connect_mode(parent):
    parent.ok("mkdir team\nnew meter -l a\ncd team\nnew meter-set -l b\ncd")
    try:
        # Marked as agents: with their config's model, or unmarked until they say.
        tree = parent.ok("tree").text
        assert "a.txt  [meter idle] [agent]" in tree
        assert "b.txt  [meter-set idle] [agent: test]" in tree
        assert _row(parent.ok("ls").text, "a.txt")[-2:] == ["(its", "own)"]
        assert parent.ok("usage").text.splitlines() == [
            "agent kernel      model      requests  input tokens  output tokens  cost",
            "~/a.txt           (its own)  0         0             0              -",
            "~/team/b.txt      test       0         0             0              -",
            "total (2 agents)             0         0             0              -",
        ]
        parent.ok('run "tick 1" ~/a.txt')
        one = expected_usage(1)
        assert _row(parent.ok("usage").text, "~/a.txt") == [
            "~/a.txt",
            "function:meter-script",
            str(one["requests"]),
            str(one["input_tokens"]),
            str(one["output_tokens"]),
            "-",
        ]
        # Connect mode's pass-through cells count too (nothing decoded but the reply).
        parent.ok("> a.txt")
        parent.ok("tick 2")
        parent.ok("/cmd")
        both = {k: one[k] + expected_usage(2)[k] for k in one}
        usage = parent.ok("usage").text
        numbers = [str(both[k]) for k in ("requests", "input_tokens", "output_tokens")]
        assert _row(usage, "~/a.txt")[2:] == [*numbers, "-"]
        assert _row(usage, "total")[3:] == [*numbers, "-"]
        assert "a.txt  [meter idle] [agent: function:meter-script]" in parent.ok("tree").text
        ls = parent.ok("ls").text
        assert ls.splitlines()[0].split()[-2:] == ["agent", "model"]
        assert _row(ls, "a.txt")[-1] == "function:meter-script"
        # A PATH narrows it: a folder, or one kernel.
        assert _row(parent.ok("usage team").text, "total")[:3] == ["total", "(1", "agent)"]
        assert _row(parent.ok("usage a.txt").text, "total")[3] == str(both["requests"])
        parent.ok("mkdir empty")
        assert parent.ok("usage empty").text.strip() == "no agent kernels under ~/empty"
        parent.ok("rm empty")
    finally:
        parent.ok("rm -r team\nrm a.txt")


async def test_the_service_lists_agents_and_counts_run_code(meter_env, monkeypatch):
    prefix, config = meter_env
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    ksm = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    manager = SilikManager(ksm)
    try:
        await asyncio.gather(manager.start("meter", ["m"]), manager.start("meter-set", ["s"]))
        svc = ManagerService(manager)
        kernels = {k["path"]: k for k in await svc.op_list_tree() if k["type"] == "kernel"}
        assert kernels["~/s.txt"]["agent"] is True and kernels["~/s.txt"]["model"] == "test"
        assert kernels["~/m.txt"]["agent"] is True and kernels["~/m.txt"]["model"] is None
        events = [e async for e in svc.run_code("m.txt", "tick 2", 30.0)]
        assert events[-1]["data"]["status"] == "ok"
        assert manager.record("m.txt").usage == {**expected_usage(2), "cost": None}
        kernels = {k["path"]: k for k in await svc.op_list_tree() if k["type"] == "kernel"}
        assert kernels["~/m.txt"]["model"] == "function:meter-script"
    finally:
        await manager.shutdown_all()
