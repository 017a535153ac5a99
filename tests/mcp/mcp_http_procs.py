"""A real `python -m silik_kernel mcp --http` process, and the official client on it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import Implementation

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 30.0
#: A client's first request, as raw JSON-RPC (for probes with httpx).
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}


def http_client(url: str, token: str, name: str = "pytest") -> Client:
    """The official MCP client on ``url``, sending the bearer token on every request."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(
        streamable_http_client(url, http_client=http),
        client_info=Implementation(name=name, version="1"),
    )


def result_data(result: Any) -> Any:
    """A tool result's JSON (or text), failing the test on a tool error."""
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    assert not result.is_error, text
    try:
        return json.loads(text)
    except ValueError:
        return text


class ServerProcess:
    """The HTTP server as a person starts it; its stderr says where and the token."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "silik_kernel", "mcp", "--http", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for(r"silik MCP server at (\S+)")
        self.token_line = self._wait_for(r"token: (.+)")
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def _wait_for(self, pattern: str) -> str:
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.stderr.append(line)
            found = re.search(pattern, line)
            if found:
                return found.group(1).strip()
        raise AssertionError(f"no {pattern!r} on stderr; got: {''.join(self.stderr)}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise
