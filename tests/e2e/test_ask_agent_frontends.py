"""A lead agent asks another agent kernel, seen by a person: in jupyter console
(through a pty) and in a notebook executed by nbclient."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pexpect
from agents_fixtures.kernels import agent_prefix, clean_env, team_config_dir
from console_pty import jupyter_console, prompt, screen
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
EXPECT_TIMEOUT = 60


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        JUPYTER_PATH=str(agent_prefix() / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(team_config_dir(tmp_path / "config")),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        **extra,
    )


def _until_prompt(child: pexpect.spawn, number: int) -> str:
    child.expect(prompt(number))
    return screen(child.before)


def test_console_shows_the_delegates_call_and_answer_once_under_its_label(tmp_path):
    env = _env(tmp_path)
    log = tmp_path / "console.log"
    with jupyter_console("silik", env, ROOT, log, columns=200, timeout=EXPECT_TIMEOUT) as child:
        child.expect(prompt(1))
        child.sendline("new team -l lead helper")
        _until_prompt(child, 2)
        child.sendline("> lead.txt")
        _until_prompt(child, 3)
        child.sendline("ask ~/helper.txt cmd ls ~")
        # the delegate's approval reaches the person at the top, naming who asks
        child.expect_exact("~/helper.txt wants silik: command='ls ~' [y/N] ")
        shown = screen(child.before)
        child.sendline("y")
        shown += _until_prompt(child, 4)
        label = shown.index("── ~/helper.txt ──")
        call = shown.index("[tool] silik(command='ls ~')")
        delegate_answer = shown.index("Done: ")
        lead_answer = shown.index("~/helper.txt answered: Done:")
        assert shown.index("[tool] ask_agent(path='~/helper.txt'") < label, shown
        assert label < call < delegate_answer < lead_answer, shown
        assert shown.count("[tool] silik(command='ls ~')") == 1, shown
        assert shown.count("── ~/helper.txt ──") == 1, shown
        # quit so that silik shuts down and removes its bridge's files
        child.sendline("/cmd")
        _until_prompt(child, 5)
        child.sendeof()
        child.expect_exact("exit")
        child.sendline("y")
        child.expect(pexpect.EOF)


def test_a_notebooks_saved_outputs_hold_the_delegates_work_under_its_label(tmp_path):
    nb = new_notebook(
        metadata={"kernelspec": {"name": "silik", "display_name": "Silik"}},
        cells=[
            new_code_cell("new team -l lead helper"),
            new_code_cell("> lead.txt"),
            new_code_cell("ask ~/helper.txt hello"),
            new_code_cell("/cmd"),
        ],
    )
    km = KernelManager(kernel_name="silik")
    client = NotebookClient(nb, km=km, timeout=90, startup_timeout=60)
    try:
        client.execute(env=_env(tmp_path), cwd=str(ROOT))
    finally:
        km.shutdown_kernel()
    path = tmp_path / "lead.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    shown = []
    for out in saved.cells[2].outputs:
        if out.output_type == "stream":
            shown.append(out.text)
        elif out.get("data", {}).get("text/plain"):
            shown.append(out.data["text/plain"])
    assert shown == [
        "[tool] ask_agent(path='~/helper.txt', message='hello', fresh=False)"
        " -> ~/helper.txt answered: heard: hello (turn 1)",
        "── ~/helper.txt ──\n",
        "heard: hello (turn 1)",
        "~/helper.txt answered: heard: hello (turn 1) [tools: none]",
    ], shown
