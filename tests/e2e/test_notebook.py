"""A notebook on the silik kernel, executed by nbclient (the engine behind nbconvert/papermill).

The first cells are silik commands; after ``> k1.py`` the cells are python,
run by the sub-kernel, and the saved outputs must be what a python notebook
would have saved: streams, rich displays, updated displays, errors, widgets.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytest.importorskip("ipywidgets")

CELLS = {
    "start": "new python3 -l k1",
    "connect": "> k1.py",
    "stream": "print('hello from k1')",
    "html": (
        "from IPython.display import HTML, display\n"
        "display(HTML('<table><tr><td>silik</td></tr></table>'))"
    ),
    "display": "handle = display('first version', display_id='status')",
    "update": "handle.update('second version')\nprint('updated')",
    "error": "raise ValueError('boom')",
    "widget": "import ipywidgets\nipywidgets.IntSlider(value=7, max=10)",
    "back": "/cmd",
    "tree": "tree",
}


def _notebook() -> nbformat.NotebookNode:
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "silik", "display_name": "Silik", "language": "silik"},
        }
    )
    for key, source in CELLS.items():
        cell = new_code_cell(source, metadata={"name": key})
        if key == "error":
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    return nb


def test_notebook_through_connect_mode(tmp_path: Path) -> None:
    nb = _notebook()
    client = NotebookClient(
        nb,
        kernel_name="silik",
        timeout=60,
        startup_timeout=60,
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    path = tmp_path / "silik.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    out = {cell.metadata["name"]: cell.outputs for cell in saved.cells}

    assert _texts(out["start"]) == ["started ~/k1.py\n"]
    assert "connected to ~/k1.py" in _texts(out["connect"])[0]

    assert [(o.output_type, o.name, o.text) for o in out["stream"]] == [
        ("stream", "stdout", "hello from k1\n")
    ]

    [html] = out["html"]
    assert html.output_type == "display_data"
    assert html.data["text/html"] == "<table><tr><td>silik</td></tr></table>"

    # The display cell shows the content of the later update, as in a python notebook.
    [shown] = out["display"]
    assert shown.output_type == "display_data"
    assert shown.data["text/plain"] == "'second version'"
    assert _texts(out["update"]) == ["updated\n"]

    [error] = out["error"]
    assert error.output_type == "error"
    assert (error.ename, error.evalue) == ("ValueError", "boom")
    assert "raise ValueError('boom')" in ANSI.sub("", "\n".join(error.traceback))

    # The widget's view and, through the relayed comm_open/comm_msg, its saved state.
    [widget] = out["widget"]
    assert widget.output_type == "execute_result"
    model_id = widget.data[WIDGET_VIEW]["model_id"]
    state = saved.metadata["widgets"][WIDGET_STATE]["state"]
    assert state[model_id]["model_name"] == "IntSliderModel"
    assert state[model_id]["state"]["value"] == 7
    assert state[model_id]["state"]["max"] == 10

    assert "left ~/k1.py" in _texts(out["back"])[0]
    assert "k1.py" in _texts(out["tree"])[0]

    # Execution counts come from the cells as the frontend saw them: all set, increasing.
    counts = [c.execution_count for c in saved.cells]
    assert all(isinstance(n, int) for n in counts), counts


def _texts(outputs: list) -> list[str]:
    """The text of each output: stream text, or a display's text/plain."""
    texts = []
    for o in outputs:
        if o.output_type == "stream":
            texts.append(o.text)
        elif "data" in o:
            texts.append(o.data.get("text/plain", ""))
    return texts
