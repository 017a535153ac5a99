"""MCP tests: the official client over stdio against `python -m silik_kernel mcp`.

The folder is skipped when the mcp package (the silik[mcp] extra) is missing.
"""

import importlib.util

if importlib.util.find_spec("mcp") is None:
    collect_ignore_glob = ["test_*.py"]
