"""The shared tool definitions stay out of a plain silik kernel, and free of any agent framework."""

from __future__ import annotations

import subprocess
import sys

import pytest


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(out.stdout.split())


def test_a_silik_kernel_does_not_import_the_tools():
    modules = imported_after("import silik_kernel.kernel.kernel, silik_kernel.__main__")
    assert not {m for m in modules if m.startswith(("silik_kernel.tools", "silik_kernel.mcp"))}
    assert "mcp" not in modules and "pydantic_ai" not in modules


@pytest.mark.parametrize("module", ["silik_kernel.tools.definitions", "silik_kernel.mcp.server"])
def test_the_tools_and_the_mcp_server_need_no_pydantic_ai(module):
    if module.startswith("silik_kernel.mcp"):
        pytest.importorskip("mcp")
    modules = imported_after(f"import {module}")
    assert not {m for m in modules if m.startswith(("pydantic_ai", "silik_agents"))}
