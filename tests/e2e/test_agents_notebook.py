"""An agent kernel's notebook executed by nbclient (the engine of papermill/nbconvert):
the saved outputs are what a reader of the notebook sees."""

from __future__ import annotations

from pathlib import Path

import nbformat
from agents_fixtures.kernels import clean_env, kernel_dirs
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]


def _visible(outputs: list) -> list[str]:
    """Each output that shows something, as its text (empty displays show nothing)."""
    texts = []
    for out in outputs:
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.get("data"):
            texts.append(out.data.get("text/plain", ""))
    return texts


def test_saved_outputs_hold_the_answer_once_and_code_output_under_its_tool_call(tmp_path):
    nb = new_notebook(
        metadata={"kernelspec": {"name": "orchestra", "display_name": "Orchestra"}},
        cells=[new_code_cell("compute the answer")],
    )
    km = KernelManager(
        kernel_name="orchestra", kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs())
    )
    client = NotebookClient(nb, km=km, timeout=90, startup_timeout=60)
    env = clean_env(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "run")
    )
    try:
        # The kernel runs `python -m silik_agents` from the project root, as in the other tests.
        client.execute(env=env, cwd=str(ROOT))
    finally:
        km.shutdown_kernel()  # a KernelManager given to nbclient is the caller's to stop
    path = tmp_path / "agent.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)

    shown = _visible(saved.cells[0].outputs)
    answer = "The kernel printed '42'."
    run_line = "[tool] run_code(path='~/calc.py', code='x = 6 * 7\\nprint(x)') -> ok: 42"
    assert shown == [
        "[tool] start_kernel(kernelspec='python3', label='calc') -> ~/calc.py",
        run_line,
        "── ~/calc.py ──\n",
        "42\n",
        answer,
    ]
    markdown = [o.data["text/markdown"] for o in saved.cells[0].outputs if o.get("data")]
    assert sum(answer in text for text in markdown) == 1
    assert all('"stdout"' not in text for text in markdown), markdown
