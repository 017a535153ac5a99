"""Kinds of Jupyter messages as silik sorts them, and their plain-text face.

Each set is defined once here: which IOPub messages a relay passes on, which of
them are a kernel's output, and how an output reads as text (for agents and
for commands run without a frontend).
"""

from __future__ import annotations

import re
from typing import Any

# What a kernel shows: its output, not its status or its echo of the input.
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"}
)

# IOPub types silik passes on from a sub-kernel: outputs and comms. Status and
# execute_input are the cell's own (silik's, or the sub-kernel's in a pass-through
# cell); a finished cell passes these on still (output of its threads and timers).
RELAYED_IOPUB = OUTPUT_TYPES | {"comm_open", "comm_msg", "comm_close"}

# IOPub types whose execution_count a frontend shows as a prompt number. silik
# puts its own count there (one count for the session, whichever kernel ran the
# cell) and keeps the sub-kernel's own under KERNEL_COUNT in the metadata.
NUMBERED = frozenset({"execute_input", "execute_result", "error"})
KERNEL_COUNT = "silik_kernel_execution_count"


def renumbered(
    content: dict[str, Any], metadata: dict[str, Any] | None, count: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A NUMBERED message's content showing ``count``, and its metadata keeping the
    kernel's own count (new dicts: the message may be someone else's)."""
    kernel_count = content["execution_count"]
    return {**content, "execution_count": count}, {**(metadata or {}), KERNEL_COUNT: kernel_count}


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes (tracebacks carry them)."""
    return _ANSI.sub("", text)


def output_text(msg_type: str, content: dict[str, Any]) -> str:
    """The plain-text face of one iopub output message (no ANSI codes)."""
    if msg_type == "stream":
        return strip_ansi(content.get("text", ""))
    if msg_type in ("execute_result", "display_data", "update_display_data"):
        text = content.get("data", {}).get("text/plain", "")
        return strip_ansi(text) + "\n" if text else ""
    if msg_type == "error":
        tb = content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
        return strip_ansi("\n".join(tb)) + "\n"
    return ""
