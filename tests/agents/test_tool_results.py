"""A tool's result as the cell shows it next to the call (the model gets the structure)."""

from __future__ import annotations

from pydantic_ai.messages import ToolReturnPart

from silik_agents.tool_results import result_summary, run_summary


def run(**fields: object) -> dict[str, object]:
    return {"path": "~/a.py", "status": "ok", "stdout": "", "stderr": "", "results": [], **fields}


def test_a_run_shows_its_status_and_first_lines_not_its_json():
    part = ToolReturnPart("run_code", run(stdout="42\n"), tool_call_id="c")
    assert result_summary(part) == "ok: 42"
    assert run_summary(run()) == "ok"
    many = run(stdout="1\n2\n", results=["'three'", "4\n5"])
    assert run_summary(many) == "ok: 1 ⏎ 2 ⏎ 'three' ⏎ … (2 more lines)"
    assert run_summary(run(stderr="warning: careful\n")) == "ok: warning: careful"


def test_a_failed_run_shows_the_error_name_and_a_run_with_images_counts_them():
    failed = run(status="error", ename="NameError", evalue="name 'x' is not defined")
    assert run_summary(failed) == "error: NameError: name 'x' is not defined"
    part = ToolReturnPart("run_code", [run(results=["fig"]), object(), object()], tool_call_id="c")
    assert result_summary(part) == "ok: fig, 2 images"
    assert run_summary(run(status="timeout", stdout="step 1\n")) == "timeout: step 1"


def test_other_results_are_their_text():
    assert result_summary(ToolReturnPart("say", "said it", tool_call_id="c")) == "said it"
    assert result_summary(ToolReturnPart("add", 5, tool_call_id="c")) == "5"
    retry = ToolReturnPart("add", "bad argument", tool_call_id="c", outcome="retried")
    assert result_summary(retry) == "bad argument"


def test_an_asked_agents_answer_shows_who_answered_after_which_tools_not_its_json():
    answer = {"path": "~/b.txt", "answer": "done\nsee above", "tools": ["run_code"], "usage": {}}
    part = ToolReturnPart("ask_agent", answer, tool_call_id="c")
    assert result_summary(part) == "~/b.txt answered after run_code: done ⏎ see above"
