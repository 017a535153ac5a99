"""What run_code gives the model: a kernel's output collected into a summary
that fits the model's context, with images attached for it to look at."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from pydantic import BaseModel, Field

from silik_kernel.protocol.messages import output_text, strip_ansi
from silik_kernel.tools.base import Image

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
DISPLAY_TYPES = ("execute_result", "display_data", "update_display_data")


class RunResult(BaseModel):
    """What run_code returns to the model."""

    path: str
    status: str = Field(description="ok, error, or timeout")
    stdout: str = ""
    stderr: str = ""
    results: list[str] = Field(
        default_factory=list, description="text/plain of results and displays"
    )
    mime_types: list[str] = Field(default_factory=list, description="every mime type produced")
    ename: str | None = None
    evalue: str | None = None
    traceback: str | None = None
    truncated: bool = False
    run_id: str | None = Field(default=None, description="pass to get_output for the rest")
    timed_out: bool = False


class RunOutput:
    """The output of one run_code, as it streams in.

    ``full`` is every output's text in order: what get_output pages through.
    """

    def __init__(self) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.results: list[str] = []
        self.mime_types: list[str] = []
        self.images: list[Image] = []
        self.full: list[str] = []
        self.chars = 0

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        data = (content.get("data") or {}) if msg_type in DISPLAY_TYPES else {}
        text = output_text(msg_type, content)
        if not text and "text/html" in data:
            text = html_text(str(data["text/html"])) + "\n"
        if text:
            self.full.append(text)
            self.chars += len(text)
        if msg_type == "stream":
            (self.stdout if content.get("name") == "stdout" else self.stderr).append(text)
        elif msg_type in DISPLAY_TYPES:
            for mime in data:
                if mime not in self.mime_types:
                    self.mime_types.append(mime)
            if text:
                self.results.append(text.rstrip("\n"))
            self._add_image(data)

    def text(self) -> str:
        return "".join(self.full)

    def _add_image(self, data: dict[str, Any]) -> None:
        """The first image of a display, for the model to look at."""
        for mime in IMAGE_TYPES:
            if mime in data:
                try:
                    self.images.append(Image(base64.b64decode(data[mime]), mime))
                except (ValueError, TypeError):
                    pass
                return

    def result(
        self, path: str, reply: dict[str, Any], budget: int, keep: Callable[[str], str]
    ) -> Any:
        """What run_code returns: within ``budget`` characters (the whole output is
        then kept under a run_id), with the last images."""
        out = self.summary(path, reply, budget, keep)
        if self.images:
            return [out, *self.images[-4:]]
        return out

    def summary(
        self, path: str, reply: dict[str, Any], budget: int, keep: Callable[[str], str]
    ) -> dict[str, Any]:
        """The result without its images."""
        out = RunResult(
            path=reply.get("path", path),
            status="timeout" if reply.get("timed_out") else reply.get("status", "unknown"),
            ename=reply.get("ename"),
            evalue=reply.get("evalue"),
            traceback=strip_ansi("\n".join(reply.get("traceback") or [])) or None,
            mime_types=self.mime_types,
            timed_out=bool(reply.get("timed_out")),
        )
        stdout, stderr = "".join(self.stdout), "".join(self.stderr)
        results = self.results
        total = len(stdout) + len(stderr) + sum(len(r) for r in results)
        if total > budget:
            out.truncated = True
            out.run_id = keep(self.text())
            stdout = _cut(stdout, max(budget // 2, 200))
            stderr = _cut(stderr, budget // 4)
            results = [_cut(r, budget // 4) for r in results[-5:]]
        out.stdout, out.stderr, out.results = stdout, stderr, results
        return out.model_dump(exclude_none=True)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


class _TextOfHtml(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "pre"})
    HIDDEN = frozenset({"script", "style", "head"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The text a person reads in an HTML output (an HTML-only display, which
    has no text/plain): tags, scripts and styles dropped."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
