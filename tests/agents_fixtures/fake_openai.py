"""A tiny OpenAI-compatible chat completions server for tests (stdlib only).

``POST /v1/chat/completions`` with ``"stream": true`` answers with scripted
server-sent events: when the conversation has no tool result yet, the model
calls ``add(a=2, b=3)`` (arguments split over two chunks); once it has one, it
streams ``The sum is <result>.`` in small pieces. Every request body is kept
in ``requests`` for assertions.

:class:`ScriptedOpenAI` serves longer conversations: plans of several tool
calls chosen by a keyword of the user's message (for the example agents).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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

    def respond(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks streamed for one request."""
        return script(body)

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
                for chunk in fake.respond(body):
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


# -- scripted conversations ---------------------------------------------------------


@dataclass
class Call:
    """One tool call the scripted model makes; ``args`` may be a function of the results so far."""

    name: str
    args: dict[str, Any] | Callable[[list[str]], dict[str, Any]] = field(default_factory=dict)


#: A plan: tool calls, one per model response, then the answer text (or a
#: function of the tool results, in order, that returns it).
Plan = list[Call | str | Callable[[list[str]], str]]


class ScriptedOpenAI(FakeOpenAI):
    """A fake OpenAI server whose model follows a plan chosen by the user's message.

    ``plans`` maps a keyword to a plan; the first keyword found in the latest
    user message wins. The step is the number of tool results since that
    message, so every request of a turn moves one step along the plan. A
    message that matches no keyword gets a text answer listing the keywords.
    """

    def __init__(self, plans: dict[str, Plan]) -> None:
        super().__init__()
        self.plans = plans

    def respond(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        model = body.get("model", "fake")
        prompt, results = latest_turn(body.get("messages", []))
        plan = next((p for word, p in self.plans.items() if word in prompt.lower()), None)
        if plan is None:
            return text_chunks(model, f"Scripted for: {', '.join(self.plans)}.")
        step = plan[len(results)] if len(results) < len(plan) else plan[-1]
        if isinstance(step, Call):
            args = step.args(results) if callable(step.args) else step.args
            return tool_call_chunks(model, step.name, args, f"call_{len(results)}")
        return text_chunks(model, step(results) if callable(step) else step)


def latest_turn(messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The latest user prompt and the tool results (content strings) that followed it.

    User messages that carry a tool's files (images) are not prompts.
    """
    results: list[str] = []
    for message in reversed(messages):
        role, content = message.get("role"), message.get("content")
        if role == "tool":
            results.append(str(content))
        elif role == "user" and isinstance(content, str):
            return content, list(reversed(results))
    return "", list(reversed(results))


def images_in(body: dict[str, Any]) -> list[str]:
    """The data URLs of every image part of a request."""
    found = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    found.append(part["image_url"]["url"])
    return found


def tool_call_chunks(model: str, name: str, args: dict[str, Any], call_id: str) -> list[dict]:
    """One tool call, its arguments streamed in two pieces."""
    raw = json.dumps(args)
    half = len(raw) // 2
    function = {"name": name, "arguments": ""}
    call = {"index": 0, "id": call_id, "type": "function", "function": function}
    chunks = [_chunk(model, {"role": "assistant", "content": None, "tool_calls": [call]})]
    for piece in (raw[:half], raw[half:]):
        chunks.append(
            _chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        )
    chunks.append(_chunk(model, {}, "tool_calls"))
    return chunks + [_usage_chunk(model)]


def text_chunks(model: str, text: str) -> list[dict[str, Any]]:
    """An answer streamed a few words at a time."""
    words = text.split(" ")
    pieces = [" ".join(words[i : i + 3]) + " " for i in range(0, len(words), 3)]
    pieces[-1] = pieces[-1].rstrip(" ")
    chunks = [_chunk(model, {"role": "assistant", "content": ""})]
    chunks += [_chunk(model, {"content": piece}) for piece in pieces]
    chunks.append(_chunk(model, {}, "stop"))
    return chunks + [_usage_chunk(model)]


def _usage_chunk(model: str) -> dict[str, Any]:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    return {**_chunk(model, {}), "choices": [], "usage": usage}
