"""JupyterLab in headless Chromium: a silik notebook renders a sub-kernel's table and widget.

The browser is Debian's ``chromium`` (CI installs it; Playwright downloads no
browser). The widget proves that comms travel both ways through connect mode:
the slider appears (comm_open from the sub-kernel), and moving it changes the
value the sub-kernel sees (comm_msg from the frontend).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from agents_fixtures.kernels import agent_prefix
from nbformat.v4 import new_code_cell, new_notebook

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
UI_TIMEOUT_MS = 60_000
CELLS = [
    "new python3 -l k1",
    "> k1.py",
    "from IPython.display import HTML\n"
    "HTML('<table class=\"silik-table\"><tr><th>kernel</th><th>state</th></tr>'\n"
    "     '<tr><td>k1.py</td><td>connected</td></tr></table>')",
    "import ipywidgets\nslider = ipywidgets.IntSlider(value=4, max=9, description='level')\nslider",
    "print('slider value:', slider.value)",
    "/cmd",
    "run \"print('slider value:', slider.value)\" k1.py",
    "> k1.py",
    "out = ipywidgets.Output()\ndisplay(out)\nwith out:\n    print('inside the output widget')",
    "from ipywidgets import interact\n"
    "@interact(n=(0, 10))\n"
    "def double(n=3):\n"
    "    print('double', n * 2)",
    "/cmd",
    "new chef -l chef",  # the scripted agent kernel of tests/agents_fixtures
    "> chef.txt",
    "add 2 and 3",  # a tool call, then the answer streamed word by word
    "/cmd",
    "new team -l lead",  # a scripted agent that starts and asks agents (ask_agent)
    "> lead.txt",
    "start helper",  # the lead starts ~/helper.txt, another team agent: it may ask it
    "ask ~/helper.txt hello",
]


class LabServer:
    """``jupyter lab`` on a free local port with a token, and its REST API."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_dir = home / "config"
        config_dir.mkdir(parents=True)
        # No announcements or update checks (no network), and window.jupyterapp to drive the UI.
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "LabApp": {
                        "news_url": None,
                        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                        "expose_app_in_browser": True,
                        "extension_manager": "readonly",
                    }
                }
            )
        )
        settings = home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "JUPYTER_PATH": str(agent_prefix() / "share" / "jupyter"),  # the test agents
        }
        self.log = open(home / "jupyterlab.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--allow-root",  # CI runs as root
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
            ],
            env=env,
            cwd=root,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s")

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def processes(self) -> list[psutil.Process]:
        try:
            server = psutil.Process(self.proc.pid)
            return [server, *server.children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self) -> list[psutil.Process]:
        """Shut down every kernel through the REST API, then the server; return what lingers."""
        procs = self.processes()
        try:
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
            self.api("POST", "/api/shutdown")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        finally:
            self.log.close()
        gone, alive = psutil.wait_procs(procs, timeout=10)
        for proc in alive:
            proc.kill()
        return alive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabServer]:
    root = tmp_path / "root"
    root.mkdir()
    server = LabServer(root, tmp_path / "home")
    try:
        server.wait_ready()
        yield server
    finally:
        alive = server.stop()
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"


def test_jupyterlab_renders_subkernel_table_and_widget(lab: LabServer) -> None:
    from playwright.sync_api import sync_playwright

    nb = new_notebook(
        metadata={"kernelspec": {"name": "silik", "display_name": "Silik", "language": "silik"}}
    )
    nb.cells = [new_code_cell(source) for source in CELLS]
    nbformat.write(nb, lab.root / "silik.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(UI_TIMEOUT_MS)
            try:
                _drive_notebook(page, lab)
            finally:
                page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"), full_page=True)
        finally:
            browser.close()

    [kernel] = lab.api("GET", "/api/kernels")
    assert kernel["name"] == "silik"


def _drive_notebook(page: Any, lab: LabServer) -> None:
    page.goto(f"{lab.url}/lab/tree/silik.ipynb?token={lab.token}")
    # The notebook's session has started silik and its kernel is idle: cells can run.
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const kernel = panel && panel.sessionContext && panel.sessionContext.session
                && panel.sessionContext.session.kernel;
            return kernel && kernel.name === 'silik' && kernel.status === 'idle';
        }"""
    )

    # Run the first four cells one at a time, each after the previous one finished.
    for index in range(4):
        _run_cell(page, index)

    table = page.locator(".jp-OutputArea-output table.silik-table")
    table.wait_for()
    assert table.locator("td").all_inner_texts() == ["k1.py", "connected"]

    slider = page.locator(".jp-OutputArea-output .jupyter-widgets.widget-slider")
    slider.wait_for()
    assert slider.locator(".widget-label").inner_text() == "level"
    assert slider.locator(".widget-readout").inner_text() == "4"

    # Move the slider with the keyboard: the frontend's comm_msg must reach the sub-kernel.
    _press_slider(page, slider, "ArrowRight", "5")
    _run_cell(page, 4)
    assert _output_text(page, 4) == "slider value: 5"

    # Back in command mode the widget still talks to k1, the kernel at the other end.
    _run_cell(page, 5)
    _press_slider(page, slider, "ArrowLeft", "4")
    _run_cell(page, 6)
    assert _output_text(page, 6) == "slider value: 4"

    # An Output widget and interact() render their output through the widget comms.
    for index in (7, 8, 9):
        _run_cell(page, index)
    outputs = page.locator(".jp-Cell").nth(8).locator(".jp-OutputArea-output")
    outputs.get_by_text("inside the output widget").wait_for()
    interactive = page.locator(".jp-Cell").nth(9).locator(".jp-OutputArea-output")
    interactive.locator(".widget-slider").wait_for()
    interactive.get_by_text("double 6").wait_for()
    assert page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count() == 0

    # An agent's turn: live Markdown, then each part once (the live displays end empty).
    for index in (10, 11, 12, 13):
        _run_cell(page, index)
    cell = page.locator(".jp-Cell").nth(13)
    cell.get_by_text("The tool said: 5").wait_for()
    # Two rendered outputs, the call and the answer; the emptied live displays render nothing.
    assert cell.locator(".jp-OutputArea-child").count() == 2
    assert cell.locator(".jp-RenderedMarkdown code").all_inner_texts() == ["add(a=2, b=3)", "5"]
    shown = "\n".join(cell.locator(".jp-OutputArea-output").all_inner_texts())
    assert shown.count("add(a=2, b=3)") == 1 and shown.count("The tool said: 5") == 1, shown
    assert shown.index("add(a=2, b=3)") < shown.index("The tool said: 5"), shown

    # A lead asks another agent: the call (its one-line result filled in place), then
    # the delegate's answer under a label naming it, once, then the lead's own answer.
    for index in (14, 15, 16, 17, 18):
        _run_cell(page, index)
    cell = page.locator(".jp-Cell").nth(18)
    cell.scroll_into_view_if_needed()  # the notebook renders the cells in view
    cell.get_by_text("~/helper.txt answered: heard: hello (turn 1) [tools: none]").wait_for()
    shown = "\n".join(cell.locator(".jp-OutputArea-output").all_inner_texts())
    assert shown.count("── ~/helper.txt ──") == 1, shown
    call = shown.index("ask_agent(path='~/helper.txt', message='hello'")
    label = shown.index("── ~/helper.txt ──")
    answer = shown.index("~/helper.txt answered: heard: hello (turn 1) [tools: none]")
    assert call < label < shown.index("heard: hello (turn 1)", label) < answer, shown
    # the delegate's answer, the call's result line, the lead's answer: once each
    assert shown.count("heard: hello (turn 1)") == 3, shown


def _press_slider(page: Any, slider: Any, key: str, readout: str) -> None:
    """One step only: ipywidgets holds back a second change until the kernel is idle
    again, so it could reach the kernel after the cell that reads the value."""
    slider.locator(".noUi-handle").focus()
    page.keyboard.press(key)
    page.wait_for_function(
        "(want) => document.querySelector('.widget-slider .widget-readout').textContent === want",
        arg=readout,
    )


def _output_text(page: Any, index: int) -> str:
    out = page.locator(".jp-Cell").nth(index).locator(".jp-OutputArea-output")
    out.wait_for()
    return out.inner_text().strip()


def _run_cell(page: Any, index: int) -> None:
    """Run cell ``index`` through JupyterLab's own command and wait for its execution count."""
    page.evaluate(
        """(index) => {
            const app = window.jupyterapp;
            app.shell.currentWidget.content.activeCellIndex = index;
            void app.commands.execute('notebook:run-cell');  // resolves when the cell ends
        }""",
        index,
    )
    prompt = page.locator(".jp-Cell").nth(index).locator(".jp-InputPrompt")
    page.wait_for_function(
        """([index]) => {
            const cell = document.querySelectorAll('.jp-Cell')[index];
            const prompt = cell && cell.querySelector('.jp-InputPrompt');
            return prompt && /\\[\\d+\\]/.test(prompt.textContent);
        }""",
        arg=[index],
    )
    assert prompt.count() == 1
