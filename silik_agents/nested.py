"""What an asked agent shows, shown again in the asking agent's cell.

The asked kernel's outputs come as it publishes them: streams, its parts placed
once each with text/plain, and live displays updated in place. They are sent on
as they are, with their display ids prefixed (the asked kernel picks its ids on
its own: two kernels' ids must not meet in one cell), so a notebook updates each
in place and jupyter console prints each placed part once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from silik_kernel.protocol.messages import strip_ansi

Publish = Callable[[str, dict[str, Any]], None]


class NestedOutput:
    """One asking turn's copy of its delegates' outputs."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._prefix = f"asked-{uuid.uuid4().hex[:8]}-"
        self._forwarded: set[str] = set()

    def show(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            name = content.get("name", "stdout")
            self._publish("stream", {"name": name, "text": content.get("text", "")})
        elif msg_type in ("display_data", "execute_result"):
            self._publish("display_data", self._display(content, new=True))
        elif msg_type == "update_display_data":
            own_id = (content.get("transient") or {}).get("display_id")
            if own_id in self._forwarded:
                self._publish("update_display_data", self._display(content, new=False))
        elif msg_type == "error":
            text = strip_ansi("\n".join(content.get("traceback") or []))
            self._publish("stream", {"name": "stderr", "text": text + "\n"})
        # clear_output is not passed on: it would clear the asking cell, not a part of it

    def _display(self, content: dict[str, Any], *, new: bool) -> dict[str, Any]:
        own_id = (content.get("transient") or {}).get("display_id")
        transient: dict[str, str] = {}
        if own_id:
            if new:
                self._forwarded.add(own_id)
            transient["display_id"] = self._prefix + own_id
        return {
            "data": content.get("data", {}),
            "metadata": content.get("metadata", {}),
            "transient": transient,
        }
