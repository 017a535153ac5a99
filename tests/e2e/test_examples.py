"""The example agent kernels (examples/agents/*), pip-installed and driven end to end.

Each example is installed into this environment the way a user does it
(`pip install examples/agents/NAME`), which registers its kernelspec. The
kernels then run from those installed kernelspecs, with their model replaced
by the local scripted OpenAI-compatible server (SILIK_AGENT_MODEL and
SILIK_AGENT_BASE_URL), so the real provider path runs and nothing leaves
127.0.0.1. Sub-kernels are real python3 kernels.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents_fixtures.fake_openai import Call, ScriptedOpenAI, images_in
from agents_fixtures.kernels import clean_env, final_display, printed
from conftest import KernelDriver

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "agents"
#: kernelspec name -> the PACKAGE.MODULE:ATTR its kernel.json runs
EXAMPLES = {
    "minimal": "silik_minimal.kernel:MinimalKernel",
    "orchestrator": "silik_orchestrator.kernel:OrchestratorKernel",
    "pydata": "silik_pydata.kernel:PyDataKernel",
    "lead": "silik_team.lead:LeadKernel",
    "reviewer": "silik_team.reviewer:ReviewerKernel",
}
#: kernelspec name -> the example folder (package) that ships it, where they differ
FOLDER = {"lead": "team", "reviewer": "team"}
MODEL = "openai-chat:scripted"
TURN_TIMEOUT = 90


@pytest.fixture(scope="session")
def installed_examples() -> None:
    """`pip install examples/agents/NAME` for every example, once per session."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")  # faster, and offline; CI may lack hatchling
    cmd += sorted({str(EXAMPLES_DIR / FOLDER.get(name, name)) for name in EXAMPLES})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"


def start(kernel_name: str, server: ScriptedOpenAI, tmp_path: Path, **env: str) -> KernelDriver:
    """An installed kernelspec started from its kernel.json, its model on the fake server."""
    kernel_env = clean_env(
        SILIK_AGENT_MODEL=MODEL,
        SILIK_AGENT_BASE_URL=server.base_url,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        **env,
    )
    kernel_env.pop("JUPYTER_PATH", None)
    return KernelDriver(kernel_name, env=kernel_env, cwd=str(tmp_path))


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m.get("role") == "tool"]


# -- installation -----------------------------------------------------------------


def test_pip_install_registers_each_kernelspec(installed_examples):
    env = clean_env()
    env.pop("JUPYTER_PATH", None)
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    ).stdout
    rows = dict(line.split(None, 1) for line in listed.splitlines()[1:] if line.strip())
    for name, target in EXAMPLES.items():
        assert name in rows, f"{name} missing from `jupyter kernelspec list`:\n{listed}"
        installed = Path(rows[name].strip())
        assert installed == Path(sys.prefix) / "share" / "jupyter" / "kernels" / name
        spec = json.loads((installed / "kernel.json").read_text())
        assert spec["argv"] == [
            "python", "-m", "silik_agents", "run", target,
            "--name", name, "-f", "{connection_file}",
        ]  # fmt: skip
        # The shipped file is what `python -m silik_agents spec` prints (no drift).
        folder = EXAMPLES_DIR / FOLDER.get(name, name)
        shipped = folder / "share" / "jupyter" / "kernels" / name / "kernel.json"
        generated = subprocess.run(
            [sys.executable, "-m", "silik_agents", "spec", target, "--name", name]
            + ["--display-name", spec["display_name"]],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert json.loads(shipped.read_text()) == json.loads(generated) == spec


# -- minimal ------------------------------------------------------------------------


def test_minimal_chat_agent_calls_its_one_tool(installed_examples, tmp_path):
    plans = {
        "strawberry": [
            Call("count_letters", {"word": "strawberry", "letter": "r"}),
            lambda results: f"There are {results[0]} r's in strawberry.",
        ]
    }
    with ScriptedOpenAI(plans) as server:
        driver = start("minimal", server, tmp_path)
        try:
            assert f"{MODEL} (from SILIK_AGENT_MODEL)" in driver.ok("/model").text
            res = driver.ok("how many r's are in strawberry?", timeout=TURN_TIMEOUT)
            shown = final_display(res)["text/plain"]
            assert shown.endswith("There are 3 r's in strawberry.")
            assert "count_letters(word='strawberry', letter='r') -> 3" in shown
            first, second = server.requests
            # One custom tool, and no silik toolset (use_silik_tools = False).
            assert tool_names(first) == ["count_letters"]
            assert first["model"] == "scripted" and first["stream"] is True
            assert tool_results(second) == ["3"]
            # The conversation carries on to the next cell.
            driver.ok("and in raspberry?", timeout=TURN_TIMEOUT)
            prompts = [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "user"]
            assert prompts[-2:] == ["how many r's are in strawberry?", "and in raspberry?"]
        finally:
            driver.shutdown()


# -- pydata ---------------------------------------------------------------------------

CSV = "day,temperature,rain\n1,12.5,0.0\n2,14.0,1.2\n3,15.5,0.4\n4,13.0,3.1\n5,16.5,0.0\n"
PLOT = (
    "ax = df.plot(x='day', y='temperature', title='Temperature by day')\n"
    "ax.set_ylabel('°C')\n"
    "plt.show()"
)


def test_pydata_loads_a_csv_and_shows_tables_and_plots(installed_examples, tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    plans = {
        "load": [
            Call("load_csv", {"path": "data.csv"}),
            Call("run_python", {"code": "df.describe()"}),
            Call("run_python", {"code": PLOT}),
            "The temperature rises from 12.5 to 16.5 °C over 5 days.",
        ]
    }
    with ScriptedOpenAI(plans) as server:
        driver = start("pydata", server, tmp_path)
        try:
            res = driver.ok("load data.csv and plot the temperature", timeout=TURN_TIMEOUT)
            # The code the agent ran shows live in its cell: text, tables, the plot.
            assert "── ~/pydata.py ──" in res.stdout
            assert "df: 5 rows, 3 columns" in res.stdout
            rich = [m["content"]["data"] for m in res.of_type("display_data")]
            tables = [d["text/html"] for d in rich if "text/html" in d]
            assert any("<table" in t and "temperature" in t for t in tables)
            assert any("mean" in t for t in tables), "df.describe() as an HTML table"
            pngs = [d["image/png"] for d in rich if "image/png" in d]
            assert len(pngs) == 1
            assert base64.b64decode(pngs[0]).startswith(b"\x89PNG")
            answer = final_display(res)["text/plain"]
            assert answer.endswith("The temperature rises from 12.5 to 16.5 °C over 5 days.")
            # In a console too: each call, its output under it, the answer once at the end.
            console = printed(res)
            assert console.count("The temperature rises") == 1
            loaded = console.index("[tool] load_csv(path='data.csv')")
            assert loaded < console.index("── ~/pydata.py ──") < console.index("df: 5 rows")
            assert console.rindex("── ~/pydata.py ──") < console.index("The temperature rises")

            requests = server.requests
            assert len(requests) == 4
            assert tool_names(requests[0]) == ["load_csv", "run_python"]
            loaded = json.loads(tool_results(requests[1])[0])
            assert loaded["status"] == "ok" and "temperature    float64" in loaded["stdout"]
            assert "Started the python kernel ~/pydata.py" in loaded["note"]
            described = json.loads(tool_results(requests[2])[1])
            assert "mean" in described["results"][0]
            # The plot reached the model as binary content (an image part), once.
            assert images_in(requests[2]) == []
            sent = images_in(requests[3])
            assert len(sent) == 1 and sent[0].startswith("data:image/png;base64,")
            assert base64.b64decode(sent[0].split(",", 1)[1]) == base64.b64decode(pngs[0])

            assert driver.ok("/kernel").text.startswith("~/pydata.py")
        finally:
            driver.shutdown()
    # no_leaked_processes fails the test if ~/pydata.py outlived the agent kernel


class PlotOnlyBackend:
    """A silik backend without kernels: every run shows one PNG."""

    PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()

    async def call(self, op: str, args: dict[str, Any], *, timeout: float = 60.0) -> Any:
        return {
            "start_kernel": {"path": "~/pydata.py"},
            "kernel_owner": {"started_by": "me", "you": "me"},
            "list_tree": [{"path": "~/pydata.py", "type": "kernel", "status": "idle"}],
        }[op]

    async def stream(self, op: str, args: dict[str, Any], *, timeout: float | None = None):
        data = {"image/png": self.PNG, "text/plain": "<Figure>"}
        yield {"kind": "output", "msg_type": "display_data", "content": {"data": data}}
        yield {"kind": "result", "data": {"path": args["path"], "status": "ok"}}

    async def close(self) -> None:
        pass


async def test_pydata_images_can_be_kept_from_the_model(installed_examples):
    from pydantic_ai import BinaryContent
    from silik_pydata.workspace import Workspace

    with_images = await Workspace(PlotOnlyBackend(), label="pydata").run("plt.plot([1])")
    summary, image = with_images
    assert summary["note"].startswith("Started the python kernel ~/pydata.py")
    assert isinstance(image, BinaryContent) and image.media_type == "image/png"
    # SILIK_PYDATA_IMAGES=0: the user still sees the plot; the model reads that it exists
    without = await Workspace(PlotOnlyBackend(), label="pydata", send_images=False).run("1")
    assert without["plots"] == "1 plot(s) shown to the user (images are off)"


def test_pydata_says_which_file_is_missing(installed_examples, tmp_path):
    plans = {"load": [Call("load_csv", {"path": "nope.csv"}), lambda r: f"Failed: {r[0]}"]}
    with ScriptedOpenAI(plans) as server:
        driver = start("pydata", server, tmp_path)
        try:
            answer = final_display(driver.ok("load nope.csv", timeout=TURN_TIMEOUT))["text/plain"]
            assert f"there is no file {tmp_path / 'nope.csv'}" in answer
            assert "No python kernel yet" in driver.ok("/kernel").text
        finally:
            driver.shutdown()


# -- orchestrator -----------------------------------------------------------------------


def _mine(results: list[str]) -> list[str]:
    """Paths of the kernels list_tree (the first tool result) says the agent started."""
    return [k["path"] for k in json.loads(results[0]) if k.get("started_by_you")]


def _printed(result: str) -> str:
    return json.loads(result)["stdout"].strip()


ORCHESTRA = {
    "squares": [
        Call("list_kernelspecs"),
        Call("start_kernel", {"kernelspec": "python3", "label": "squares", "folder": "~/work"}),
        Call("start_kernel", {"kernelspec": "python3", "label": "cubes", "folder": "~/work"}),
        Call("run_code", {"path": "~/work/squares.py", "code": "squares = sum(i * i for i in range(10))\nprint(squares)"}),
        Call("run_code", {"path": "~/work/cubes.py", "code": "print(sum(i ** 3 for i in range(10)))"}),
        lambda r: f"Squares: {_printed(r[3])}, cubes: {_printed(r[4])}. Kept both kernels.",
    ],
    "clean": [
        Call("list_tree"),
        Call("stop_kernel", lambda r: {"path": _mine(r)[0]}),
        Call("stop_kernel", lambda r: {"path": _mine(r)[1]}),
        lambda r: f"{r[1]}; {r[2]}.",
    ],
}  # fmt: skip


def _answer(result: str) -> str:
    return json.loads(result)["answer"]


#: The team: the lead (keyword "warm") starts an analyst and a reviewer and asks
#: each; the analyst ("analyse") computes in its python kernel; the reviewer
#: ("review") re-computes in a kernel of its own. The first keyword found wins.
TEAM = {
    "review": [
        Call("start_kernel", {"kernelspec": "python3", "label": "check", "folder": "~/team"}),
        Call("run_code", {"path": "~/team/check.py", "code": "print(sum([12.5, 14.0, 15.5, 13.0, 16.5]) / 5)"}),
        Call("stop_kernel", {"path": "~/team/check.py"}),
        lambda r: f"Verdict: supported. Re-computed: {_printed(r[1])}.",
    ],
    "analyse": [
        Call("load_csv", {"path": "data.csv"}),
        Call("run_python", {"code": "print(df.temperature.mean())"}),
        lambda r: f"The mean temperature is {_printed(r[1])} °C.",
    ],
    "warm": [
        Call("start_kernel", {"kernelspec": "pydata", "label": "analyst", "folder": "~/team"}),
        Call("start_kernel", {"kernelspec": "reviewer", "label": "reviewer", "folder": "~/team"}),
        Call("ask_agent", {"path": "~/team/analyst.txt", "message": "Analyse data.csv: its mean temperature."}),
        Call("ask_agent", lambda r: {"path": "~/team/reviewer.txt", "message": f"Review this answer: {_answer(r[2])}"}),
        lambda r: f"Analyst: {_answer(r[2])} Reviewer: {_answer(r[3])}",
    ],
}  # fmt: skip


#: What the agents started by the `parent` fixture are scripted to do.
IN_THE_TREE = {
    **ORCHESTRA,
    "load": [Call("load_csv", {"path": "data.csv"}), "Loaded."],
    **TEAM,
}


@pytest.fixture
def parent(installed_examples, tmp_path):
    """A silik kernel; the agent kernels it starts inherit the fake model's settings."""
    env = clean_env(
        SILIK_AGENT_MODEL=MODEL,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
    )
    env.pop("JUPYTER_PATH", None)  # the examples are found where pip put them
    with ScriptedOpenAI(IN_THE_TREE) as server:
        env["SILIK_AGENT_BASE_URL"] = server.base_url
        driver = KernelDriver("silik", env=env, cwd=str(tmp_path))
        driver.server = server  # type: ignore[attr-defined]
        try:
            yield driver
        finally:
            driver.shutdown()


def test_orchestrator_works_in_the_parent_tree_and_cleans_up(parent):
    parent.ok("new orchestrator -l boss")
    parent.ok("> boss.txt")
    res = parent.ok("sum the squares and cubes below 10, keep the kernels", timeout=TURN_TIMEOUT)
    assert "── ~/work/squares.py ──\n285\n" in res.stdout
    assert "── ~/work/cubes.py ──\n2025\n" in res.stdout
    assert final_display(res)["text/plain"].endswith(
        "Squares: 285, cubes: 2025. Kept both kernels."
    )
    # What a console prints: each run_code call, its output under it, the answer once.
    console = printed(res)
    assert console.count("Squares: 285, cubes: 2025.") == 1
    squares = console.index("[tool] run_code(path='~/work/squares.py'")
    cubes = console.index("[tool] run_code(path='~/work/cubes.py'")
    assert squares < console.index("── ~/work/squares.py ──\n285\n") < cubes
    assert cubes < console.index("── ~/work/cubes.py ──\n2025\n") < console.index("Squares: 285")
    # the model saw the kernelspecs it can start, and got every silik tool
    specs = json.loads(tool_results(parent.server.requests[1])[0])
    assert {"python3", "orchestrator"} <= {s["name"] for s in specs}
    assert {"start_kernel", "run_code", "stop_kernel", "list_tree"} <= set(
        tool_names(parent.server.requests[0])
    )
    assert parent.ok("/kernels").text.splitlines() == [
        "~/work/cubes.py  [python3 idle]",
        "~/work/squares.py  [python3 idle]",
    ]
    parent.ok("/cmd")
    # the human sees the agent's kernels in the tree, and steps into one
    tree = parent.ok("tree").text
    assert "squares.py  [python3 idle (started by ~/boss.txt)]" in tree
    assert "cubes.py  [python3 idle (started by ~/boss.txt)]" in tree
    parent.ok("> work/squares.py")
    assert parent.ok("squares").text == "285\n"
    parent.ok("/cmd")
    # the agent cleans up what it started
    parent.ok("> boss.txt")
    res = parent.ok("clean up your kernels", timeout=TURN_TIMEOUT)
    assert "stopped ~/work/cubes.py; stopped ~/work/squares.py." in final_display(res)["text/plain"]
    assert "No kernels of mine are running." in parent.ok("/kernels").text
    parent.ok("/cmd")
    tree = parent.ok("tree").text
    assert "squares.py" not in tree and "cubes.py" not in tree and "boss.txt" in tree


def test_standalone_orchestrator_owns_its_kernels_and_cleanup_stops_them(
    installed_examples, tmp_path
):
    with ScriptedOpenAI(ORCHESTRA) as server:
        driver = start("orchestrator", server, tmp_path)
        try:
            res = driver.ok("squares and cubes", timeout=TURN_TIMEOUT)
            assert "Squares: 285, cubes: 2025." in final_display(res)["text/plain"]
            assert len(driver.ok("/kernels").text.splitlines()) == 2
            assert driver.ok("/cleanup").text == "Stopped ~/work/cubes.py, ~/work/squares.py.\n"
            assert "No kernels of mine" in driver.ok("/kernels").text
        finally:
            driver.shutdown()


def test_pydata_kernel_is_in_the_parent_tree_and_stops_with_the_agent(parent, tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    parent.ok("new pydata -l ana\n> ana.txt")
    res = parent.ok("load data.csv", timeout=TURN_TIMEOUT)
    assert "── ~/pydata.py ──\ndf: 5 rows, 3 columns\n" in res.stdout
    parent.ok("/cmd")
    assert "pydata.py  [python3 idle (started by ~/ana.txt)]" in parent.ok("tree").text
    # the human works with the agent's DataFrame
    assert parent.ok('run "print(df.rain.sum())" pydata.py').stdout == "4.7\n"
    # stopping the agent stops the kernel it kept for itself
    parent.ok("stop ana.txt")
    assert "pydata.py" not in parent.ok("tree").text


def test_team_lead_delegates_to_two_agents_it_started(parent, tmp_path):
    """issue 20's done-when: a lead delegates to two agent kernels it started; the
    person sees their work live under each call, and `usage` adds it all up."""
    (tmp_path / "data.csv").write_text(CSV)
    parent.ok("new lead -l lead\n> lead.txt")
    res = parent.ok("how warm was it on average?", timeout=TURN_TIMEOUT)
    answer = final_display(res)["text/plain"]
    assert answer.endswith(
        "Analyst: The mean temperature is 14.3 °C. Reviewer: Verdict: supported. Re-computed: 14.3."
    )
    # Live and nested: each delegate's work under its label, before the lead's answer.
    console = printed(res)
    analyst = console.index("── ~/team/analyst.txt ──")
    reviewer = console.index("── ~/team/reviewer.txt ──")
    assert analyst < console.index("[tool] load_csv(path='data.csv')") < reviewer
    assert (
        reviewer
        < console.index("[tool] run_code(path='~/team/check.py'")
        < console.index("Analyst: The mean")
    )
    assert console.count("Verdict: supported.") == 2  # the reviewer's answer, then the lead's
    parent.ok("/cmd")
    tree = parent.ok("tree").text
    assert (
        "analyst.txt  [pydata idle (started by ~/lead.txt)] [agent: openai-chat:scripted]" in tree
    )
    assert "reviewer.txt  [reviewer idle (started by ~/lead.txt)]" in tree
    assert "check.py" not in tree  # the reviewer stopped its own kernel
    # usage: one request per tool call and one for the answer: the lead 4+1, the
    # analyst 2+1, the reviewer 3+1; the total row adds them up
    rows = {line.split()[0]: line.split() for line in parent.ok("usage").text.splitlines()}
    assert [rows[p][2] for p in ("~/lead.txt", "~/team/analyst.txt", "~/team/reviewer.txt")] == [
        "5",
        "3",
        "4",
    ]
    table = parent.ok("usage").text
    assert table.splitlines()[-1].split()[:4] == ["total", "(3", "agents)", "12"], table
    # the human steps into the analyst's python kernel and finds its DataFrame
    assert parent.ok('run "print(len(df))" ~/pydata.py').stdout == "5\n"
