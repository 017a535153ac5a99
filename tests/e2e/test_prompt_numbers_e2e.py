"""Prompt numbers as a person sees them: one count for the silik session, going
up by one per cell, in connect mode and out of it (jupyter console through a
pty; a notebook executed by nbclient, as saved)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pexpect
import pytest
from console_pty import ESC, jupyter_console
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

IN = re.compile(rf"In \[{ESC}(\d+){ESC}\]: ")
OUT = re.compile(rf"Out\[{ESC}(\d+){ESC}\]: ")

# (cell, what it shows after Out[n], if it shows a result)
CELLS = [
    ("new python3 -l k1", None),
    ('run "6 * 7" k1.py', "42"),
    ("> k1.py", None),
    ("x = 19", None),
    ("x", "19"),
    ("1/0", None),
    ('/cmd run "x + 1" k1.py', "20"),
    ("x + 2", "21"),
    ("/cmd", None),
    ("pwd", None),
    ("> k1.py", None),
    ("x + 3", "22"),
]


@pytest.fixture
def console(tmp_path: Path):
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    with jupyter_console("silik", env, tmp_path, tmp_path / "console.log", timeout=30) as child:
        yield child


def test_console_prompt_numbers_go_up_by_one(console: pexpect.spawn) -> None:
    child = console
    child.expect(IN)
    shown = int(child.match.group(1))
    for code, result in CELLS:
        child.sendline(code)
        if result is not None:
            child.expect(OUT)
            assert int(child.match.group(1)) == shown, f"{code!r}: Out[{child.match.group(1)}]"
            child.expect(re.escape(result))
        after = shown
        while after == shown:  # the prompt being typed at is redrawn as the line is sent
            child.expect(IN)
            after = int(child.match.group(1))
        assert after == shown + 1, f"{code!r} ran as In [{shown}]; the next prompt is In [{after}]"
        shown = after
    child.sendline("/cmd exit")
    child.expect(pexpect.EOF)


def test_notebook_execution_counts_go_up_by_one(tmp_path: Path) -> None:
    nb = new_notebook(
        metadata={"kernelspec": {"name": "silik", "display_name": "Silik", "language": "silik"}}
    )
    for code, _ in CELLS:
        cell = new_code_cell(code)
        if code == "1/0":
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    client = NotebookClient(
        nb,
        kernel_name="silik",
        timeout=60,
        startup_timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    path = tmp_path / "counts.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in saved.cells]
    assert counts == list(range(1, len(CELLS) + 1)), counts
    for cell, (_, result) in zip(saved.cells, CELLS, strict=True):
        if result is not None:
            [out] = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert out.execution_count == cell.execution_count, (cell.source, out)
            assert out.data["text/plain"] == result
