"""A tiny OpenAI-compatible chat completions server for tests (stdlib only).

``POST /v1/chat/completions`` with ``"stream": true`` answers with scripted
server-sent events: when the conversation has no tool result yet, the model
calls ``add(a=2, b=3)`` (arguments split over two chunks); once it has one, it
streams ``The sum is <result>.`` in small pieces. Every request body is kept
in ``requests`` for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if not body.get("stream"):
                    self._json(400, {"error": {"message": "this fake only streams"}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in script(body):
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                    time.sleep(0.01)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def script(body: dict[str, Any]) -> list[dict[str, Any]]:
    model = body.get("model", "fake")
    tool_results = [m for m in body.get("messages", []) if m.get("role") == "tool"]
    chunks: list[dict[str, Any]] = []
    if not tool_results:
        call = {
            "index": 0,
            "id": "call_add_1",
            "type": "function",
            "function": {"name": "add", "arguments": ""},
        }
        chunks.append(_chunk(model, {"role": "assistant", "content": None, "tool_calls": [call]}))
        for piece in ('{"a": 2,', ' "b": 3}'):
            chunks.append(
                _chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            )
        chunks.append(_chunk(model, {}, "tool_calls"))
    else:
        result = str(tool_results[-1].get("content", "")).strip()
        chunks.append(_chunk(model, {"role": "assistant", "content": ""}))
        for piece in ("The sum ", "is ", f"{result}", "."):
            chunks.append(_chunk(model, {"content": piece}))
        chunks.append(_chunk(model, {}, "stop"))
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    chunks.append({**_chunk(model, {}), "choices": [], "usage": usage})
    return chunks
