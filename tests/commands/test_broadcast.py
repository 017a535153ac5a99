"""`broadcast`: one input spread over several kernels, output grouped by kernel.

The grouping itself is tested on a recording frontend; the command runs
against three real python3 kernels through jupyter_client.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from queue import Empty
from typing import Any

import pytest
from conftest import KernelDriver, Result

from silik_kernel.commands.fanout import GroupedOutput, KernelDone, KernelOutput, summary

HEADER = re.compile(r"^── (~\S*) ──$")


# -- grouping, without kernels --------------------------------------------------
class Recorder:
    """A frontend that keeps what would be shown, in order."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []  # (kind, text)

    def print(self, text: str, name: str = "stdout") -> None:
        self.shown.append((name, text if text.endswith("\n") else text + "\n"))

    def forward(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        self.shown.append(("forwarded", content.get("text") or str(content.get("data", ""))))

    def running(self, path: str) -> nullcontext[None]:
        return nullcontext()


def out(path: str, msg_type: str, **content: Any) -> KernelOutput:
    return KernelOutput(path, {"header": {"msg_type": msg_type}, "content": content})


def test_a_header_whenever_the_kernel_changes() -> None:
    rec = Recorder()
    view = GroupedOutput(rec)  # type: ignore[arg-type]
    for event in [
        out("~/a.py", "stream", name="stdout", text="a1\n"),
        out("~/a.py", "stream", name="stdout", text="a2\n"),
        out("~/b.py", "execute_result", data={"text/plain": "2"}),
        out("~/a.py", "stream", name="stdout", text="a3\n"),
    ]:
        view.show(event)
    assert rec.shown == [
        ("stdout", "── ~/a.py ──\n"),
        ("forwarded", "a1\n"),
        ("forwarded", "a2\n"),
        ("stdout", "── ~/b.py ──\n"),
        ("forwarded", "{'text/plain': '2'}"),
        ("stdout", "── ~/a.py ──\n"),
        ("forwarded", "a3\n"),
    ]


def test_a_header_after_an_unfinished_line_starts_a_new_line() -> None:
    rec = Recorder()
    view = GroupedOutput(rec)  # type: ignore[arg-type]
    view.show(out("~/a.py", "stream", name="stdout", text="progress: 10%"))
    view.show(out("~/b.py", "stream", name="stdout", text="b\n"))
    view.line("summary")
    assert rec.shown[2] == ("stdout", "\n── ~/b.py ──\n")
    assert rec.shown[-1] == ("stdout", "summary\n")  # b's line was finished


def test_an_empty_stream_message_leaves_the_line_finished() -> None:
    rec = Recorder()
    view = GroupedOutput(rec)  # type: ignore[arg-type]
    view.show(out("~/a.py", "stream", name="stdout", text="a\n"))
    view.show(out("~/a.py", "stream", name="stdout", text=""))
    view.line("summary")
    assert rec.shown[-1] == ("stdout", "summary\n")  # no blank line before it


def test_clear_output_is_dropped_and_silent_failures_say_why() -> None:
    rec = Recorder()
    view = GroupedOutput(rec)  # type: ignore[arg-type]
    view.show(out("~/a.py", "clear_output", wait=False))
    view.show(out("~/a.py", "error", ename="ValueError", evalue="x", traceback=[]))
    view.show(KernelDone("~/a.py", {"status": "error", "ename": "ValueError"}, 0.1))
    view.show(KernelDone("~/b.py", {"status": "error", "ename": "KernelDied", "evalue": "gone"}, 1))
    view.show(KernelDone("~/c.py", {"status": "aborted"}, 0.1))
    view.show(KernelDone("~/d.py", {"status": "ok"}, 0.1))
    assert [kind for kind, _ in rec.shown] == ["stdout", "forwarded"] + ["stdout", "stderr"] * 2
    assert rec.shown[3] == ("stderr", "KernelDied: gone\n")  # a's error was shown already
    assert rec.shown[5] == ("stderr", "aborted\n")


def test_summary_names_the_kernels_that_succeeded_and_failed() -> None:
    done = [
        KernelDone("~/a.py", {"status": "ok"}, 0.2),
        KernelDone("~/b.py", {"status": "error", "ename": "ZeroDivisionError"}, 0.3),
        KernelDone("~/c.py", {"status": "ok"}, 0.1),
    ]
    assert summary(done, 0.31) == (
        "── 2 ok (~/a.py, ~/c.py), 1 failed (~/b.py: ZeroDivisionError) in 0.31 s"
    )
    assert summary(done[:1], 1) == "── 1 ok (~/a.py) in 1.00 s"
    assert summary(done[1:2], 1) == "── 0 ok, 1 failed (~/b.py: ZeroDivisionError) in 1.00 s"


# -- through a real silik kernel ------------------------------------------------
WORKERS = ["~/workers/a.py", "~/workers/b.py", "~/workers/c.py"]


@pytest.fixture(scope="module")
def workers():
    """A silik with ~/workers/{a,b,c}.py, each knowing its name as `me`.

    Module-scoped (started before the per-test leak check); tests leave the
    three kernels running and idle.
    """
    driver = KernelDriver("silik")
    try:
        driver.ok("mkdir workers\nnew python3 -l a b c -d workers", timeout=90)
        for path in WORKERS:
            me = path.rsplit("/", 1)[1][0]
            driver.ok(f"run \"me = '{me}'\" {path}")
        yield driver
    finally:
        driver.shutdown()


def grouped(res: Result) -> tuple[dict[str, str], list[str]]:
    """Each kernel's output as text, attributed by the header above it; and the other lines."""
    by_path: dict[str, str] = {}
    own: list[str] = []
    current: str | None = None
    for m in res.messages:
        c = m["content"]
        if m["msg_type"] == "stream":
            for line in c["text"].splitlines(keepends=True):
                header = HEADER.match(line.rstrip("\n"))
                if header:
                    current = header.group(1)
                elif line.startswith("── "):
                    current = None
                    own.append(line)
                else:
                    assert current is not None, f"output without a header: {line!r}"
                    by_path[current] = by_path.get(current, "") + line
        elif m["msg_type"] == "execute_result":
            assert current is not None
            by_path[current] = by_path.get(current, "") + c["data"]["text/plain"] + "\n"
        elif m["msg_type"] == "error" and current is not None:
            by_path[current] = by_path.get(current, "") + f"<{c['ename']}>\n"
            current = None if c["ename"] == "SilikError" else current
    return by_path, own


CODE = """import time
for i in range(3):
    print(me, i, flush=True)
    time.sleep(0.05)
if me == "b":
    1 / 0
me.upper()"""


def test_broadcast_groups_output_by_kernel_and_fails_if_one_kernel_fails(
    workers: KernelDriver,
) -> None:
    res = workers.fails(f"broadcast '{CODE}' {' '.join(WORKERS)}")
    by_path, own = grouped(res)
    assert by_path == {
        "~/workers/a.py": "a 0\na 1\na 2\n'A'\n",
        "~/workers/b.py": "b 0\nb 1\nb 2\n<ZeroDivisionError>\n",
        "~/workers/c.py": "c 0\nc 1\nc 2\n'C'\n",
    }
    assert len(own) == 1
    assert re.fullmatch(
        r"── 2 ok \(~/workers/a\.py, ~/workers/c\.py\), "
        r"1 failed \(~/workers/b\.py: ZeroDivisionError\) in \d+\.\d\d s\n",
        own[0],
    )
    assert res.content["ename"] == "SilikError"
    assert res.content["evalue"] == "broadcast failed on 1 of 3 kernels: ~/workers/b.py"
    assert res.messages[-1]["msg_type"] == "error"  # after the summary
    # The three ran at the same time: b's traceback is b's own, forwarded unchanged.
    (b_error,) = [m for m in res.of_type("error") if m["content"]["ename"] != "SilikError"]
    assert "ZeroDivisionError" in "\n".join(b_error["content"]["traceback"])


def test_broadcast_runs_concurrently(workers: KernelDriver) -> None:
    started = time.monotonic()
    res = workers.ok(f"broadcast 'import time; time.sleep(1); print(me)' {' '.join(WORKERS)}")
    assert time.monotonic() - started < 2.5  # not 3 s one after another
    assert grouped(res)[0] == {p: p[-4] + "\n" for p in WORKERS}


@pytest.mark.parametrize(
    ("cell", "paths"),
    [
        ("broadcast 'print(me)' ~/workers/*", WORKERS),
        ("cd workers\nbroadcast 'print(me)' [ab].py\ncd", WORKERS[:2]),
        ("broadcast 'print(me)' ~/w*/c.py ~/workers/?.py", [WORKERS[2], *WORKERS[:2]]),
    ],
)
def test_broadcast_with_globs(workers: KernelDriver, cell: str, paths: list[str]) -> None:
    res = workers.ok(cell)
    by_path, own = grouped(res)
    assert by_path == {p: p[-4] + "\n" for p in paths}
    assert own[0].startswith(f"── {len(paths)} ok ({', '.join(paths)}) in ")


@pytest.mark.parametrize(
    ("cell", "message", "hint"),
    [
        ("broadcast 'x' ~/nowhere/*", "nothing matches ~/nowhere/*", "nothing in ~ matches"),
        ("broadcast 'x' ~/workers/*.r", "nothing matches ~/workers/*.r", "nothing in ~/workers"),
        ("broadcast 'x' ~/workers", "~/workers names a folder", "`~/workers/*` names the"),
        ("broadcast 'x' ~/*", "~/* names only folders", "`~/workers/*` names the"),
        ("broadcast me = 1 ~/workers/a.py", "'=' is not a kernel path", "put the code in quotes"),
        ("broadcast 'me = 1' ~/workers/a.py nope.py", "no such kernel or folder", None),
    ],
)
def test_broadcast_refuses_bad_paths_before_running_anything(
    workers: KernelDriver, cell: str, message: str, hint: str | None
) -> None:
    res = workers.fails(cell)
    assert message in res.content["evalue"]
    if hint:
        assert hint in res.error
    assert not res.of_type("stream")  # nothing ran
    assert grouped(workers.ok("broadcast 'print(me)' ~/workers/a.py"))[0] == {WORKERS[0]: "a\n"}


def test_an_interrupt_stops_every_target(workers: KernelDriver) -> None:
    kc = workers.kc
    code = 'print(\\"started\\", flush=True); import time; time.sleep(60)'
    msg_id = kc.execute(f'broadcast "{code}" ~/workers/*')
    started = 0
    deadline = time.monotonic() + 30
    while started < 3:  # every kernel is inside the sleep
        assert time.monotonic() < deadline, "the kernels did not start the code"
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            started += msg["content"]["text"].count("started")
    t0 = time.monotonic()
    workers.km.interrupt_kernel()
    res = workers.collect(msg_id, timeout=15)
    assert time.monotonic() - t0 < 10
    assert res.status == "error"
    names = [m["content"]["ename"] for m in res.of_type("error")]
    assert names.count("KeyboardInterrupt") == 3, names
    assert "0 ok, 3 failed (~/workers/a.py: KeyboardInterrupt; " in res.stdout
    # The kernels survive with their state.
    assert grouped(workers.ok("broadcast 'print(me)' ~/workers/*"))[0] == {
        p: p[-4] + "\n" for p in WORKERS
    }
