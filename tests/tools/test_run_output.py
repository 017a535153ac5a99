"""run_code's summary for the model, from synthetic kernel output (no kernel)."""

from __future__ import annotations

import base64

from silik_kernel.tools.base import Image
from silik_kernel.tools.run_output import RunOutput


def stream(text: str, name: str = "stdout") -> tuple[str, dict]:
    return "stream", {"name": name, "text": text}


def test_output_is_sorted_into_streams_results_and_mime_types():
    run = RunOutput()
    run.add(*stream("out\n"))
    run.add(*stream("err\n", "stderr"))
    run.add("execute_result", {"data": {"text/plain": "43", "text/html": "<b>43</b>"}})
    summary = run.result("~/k.py", {"status": "ok"}, 1000, keep=lambda text: "never")
    assert summary == {
        "path": "~/k.py",
        "status": "ok",
        "stdout": "out\n",
        "stderr": "err\n",
        "results": ["43"],
        "mime_types": ["text/plain", "text/html"],
        "truncated": False,
        "timed_out": False,
    }


def test_a_failure_and_a_timeout_are_reported():
    run = RunOutput()
    reply = {"status": "error", "ename": "E", "evalue": "v", "traceback": ["\x1b[31mE: v\x1b[0m"]}
    failed = run.result("~/k.py", reply, 1000, keep=str)
    assert failed["status"] == "error" and failed["traceback"] == "E: v"
    timed_out = run.result("~/k.py", {"timed_out": True, "status": "error"}, 1000, keep=str)
    assert timed_out["status"] == "timeout" and timed_out["timed_out"] is True


def test_long_output_is_cut_and_kept_whole():
    run = RunOutput()
    for i in range(500):
        run.add(*stream(f"line {i}\n"))
    kept: list[str] = []

    def keep(text: str) -> str:
        kept.append(text)
        return "r1"

    summary = run.result("~/k.py", {"status": "ok"}, 1000, keep)
    assert summary["truncated"] is True and summary["run_id"] == "r1"
    assert len(summary["stdout"]) < 600 and "characters cut" in summary["stdout"]
    assert summary["stdout"].startswith("line 0\n") and summary["stdout"].endswith("line 499\n")
    assert kept == ["".join(f"line {i}\n" for i in range(500))]


def test_the_first_image_of_a_display_is_attached_and_bad_data_skipped():
    run = RunOutput()
    png = base64.b64encode(b"not really a png").decode()
    run.add("display_data", {"data": {"image/png": png, "image/jpeg": png, "text/plain": "fig"}})
    run.add("display_data", {"data": {"image/png": "%%% not base64"}})
    summary, image = run.result("~/k.py", {"status": "ok"}, 1000, keep=str)
    assert isinstance(image, Image) and image.mime == "image/png"
    assert image.data == b"not really a png"
    assert summary["results"] == ["fig"]


def test_an_html_only_output_is_reduced_to_its_text():
    run = RunOutput()
    html = "<style>td {color: red}</style><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
    run.add("display_data", {"data": {"text/html": html}})
    summary = run.result("~/k.py", {"status": "ok"}, 1000, keep=str)
    assert summary["results"] == ["a b\n1 2"] and summary["mime_types"] == ["text/html"]
