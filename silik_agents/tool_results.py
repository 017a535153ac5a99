"""A tool's result as a person reads it next to the call: one short line.

The model gets the structured result (``RunResult`` for run_code); the cell shows
its status, the first lines of output and the error's name instead of its JSON.
"""

from __future__ import annotations

from typing import Any

#: Lines of a run's output shown next to its call.
SHOWN_LINES = 3
LINE_BREAK = " ⏎ "


def result_summary(part: Any) -> str:
    """What a tool returned (a ToolReturnPart or RetryPromptPart), for the cell."""
    content = getattr(part, "content", None)
    run, images = _run_result(content)
    if run is not None:
        return run_summary(run, images)
    if isinstance(content, str):
        return content
    if _is_answer(content):
        return answer_summary(content)
    return _model_text(part)


def answer_summary(answer: dict[str, Any]) -> str:
    """An asked agent's answer (ask_agent): who, its tools, the first lines."""
    tools = answer.get("tools") or []
    called = f" after {', '.join(map(str, tools))}" if tools else ""
    lines = [line for line in str(answer.get("answer", "")).splitlines() if line.strip()]
    shown = LINE_BREAK.join(lines[:SHOWN_LINES])
    if len(lines) > SHOWN_LINES:
        shown += f"{LINE_BREAK}… ({len(lines) - SHOWN_LINES} more lines)"
    return f"{answer.get('path')} answered{called}: {shown}"


def run_summary(run: dict[str, Any], images: int = 0) -> str:
    """``ok: 42``, ``error: NameError: name 'x' is not defined``, ``timeout: …``."""
    status = str(run.get("status") or "done")
    if run.get("ename"):
        error = str(run["ename"]) + (f": {run['evalue']}" if run.get("evalue") else "")
        return f"{status}: {error}"
    output = [str(run.get("stdout") or ""), *map(str, run.get("results") or [])]
    lines = [line for text in output for line in text.splitlines() if line.strip()]
    if not lines:
        lines = [line for line in str(run.get("stderr") or "").splitlines() if line.strip()]
    shown = LINE_BREAK.join(lines[:SHOWN_LINES])
    if len(lines) > SHOWN_LINES:
        shown += f"{LINE_BREAK}… ({len(lines) - SHOWN_LINES} more lines)"
    if images:
        shown += (", " if shown else "") + ("1 image" if images == 1 else f"{images} images")
    return f"{status}: {shown}" if shown else status


def _run_result(content: Any) -> tuple[dict[str, Any] | None, int]:
    """run_code's result (a dict, or a list: the dict then the images), else None."""
    if isinstance(content, list) and content and _is_run(content[0]):
        return content[0], len(content) - 1
    if _is_run(content):
        return content, 0
    return None, 0


def _is_run(value: Any) -> bool:
    return isinstance(value, dict) and "status" in value and "path" in value and "stdout" in value


def _is_answer(value: Any) -> bool:
    return isinstance(value, dict) and {"path", "answer", "tools"} <= value.keys()


def _model_text(part: Any) -> str:
    try:
        return part.model_response_str()
    except Exception:
        content = getattr(part, "content", "")
        return content if isinstance(content, str) else repr(content)
