"""Every silik command through a real jupyter_client client on a real silik kernel.

Sub-kernels are real ipykernel processes. Most tests share one silik kernel and
one python3 sub-kernel (``~/k1.py``); each test leaves the tree as it found it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import pytest
from conftest import KernelDriver, plain_text_of, start_external_kernel
from jupyter_client.manager import KernelManager

ANSI = re.compile(r"\x1b\[")


def plain_texts(res) -> list[str]:
    """Every text/plain silik showed in a cell (streams, displays, results)."""
    return [
        text
        for m in res.messages
        if m["msg_type"] != "error" and (text := plain_text_of(m)) is not None
    ]


def assert_no_ansi(res) -> None:
    for text in plain_texts(res):
        assert not ANSI.search(text), f"ANSI codes in {text!r}"


def tree_text(k) -> str:
    res = k.ok("tree")
    assert_no_ansi(res)
    return res.text


def statuses(k, folder: str = "~") -> dict[str, str]:
    """name -> status column of `ls` ("folder" for folders)."""
    rows = [r.split() for r in k.ok(f"ls {folder}").text.splitlines()[1:]]
    return {r[0]: "folder" if r[1] == "folder" else r[2] for r in rows if r}


def pid_of(k, path: str) -> int:
    res = k.ok(f"info {path}")
    return int(re.search(r"^pid:\s+(\d+)", res.text, re.M).group(1))


@pytest.fixture(scope="module")
def k1(shared_silik):
    """``~/k1.py``: one python3 sub-kernel for the tests that only run code."""
    shared_silik.ok("new python3 -l k1")
    yield "~/k1.py"
    shared_silik.execute("stop ~/k1.py")


@pytest.fixture
def sh(shared_silik, k1):
    """The shared silik kernel, put back in command mode at ~ after the test."""
    yield shared_silik
    shared_silik.execute("<")
    shared_silik.execute("cd")


# -- kernels ------------------------------------------------------------------
def test_kernels_lists_kernelspecs(sh):
    res = sh.ok("kernels")
    (display,) = res.of_type("display_data")
    text = display["content"]["data"]["text/plain"]
    assert re.search(r"^python3\s+.*\s+python$", text, re.M)
    assert re.search(r"^silik\s+.*\s+silik$", text, re.M)
    assert "<table>" in display["content"]["data"]["text/html"]
    assert_no_ansi(res)


def test_new_label_and_generated_labels(sh):
    res = sh.ok("new python3 -l lab")
    assert "~/lab.py" in res.stdout
    res = sh.ok("new python3")
    (generated,) = re.findall(r"~/(\w+\.py)", res.stdout)
    assert generated not in ("lab.py", "k1.py")
    res = sh.ok("start python3")  # alias
    (second,) = re.findall(r"~/(\w+\.py)", res.stdout)
    assert second != generated
    assert set(statuses(sh)) == {"k1.py", "lab.py", generated, second}
    sh.ok(f"run 'print(7)' {generated}")
    sh.ok(f"stop lab.py {generated} {second}")
    assert set(statuses(sh)) == {"k1.py"}


SLOW_START = 1.5  # seconds a "slowpy" kernel sleeps before it starts ipykernel


@pytest.fixture
def slow_silik(tmp_path):
    """A fresh silik that also knows "slowpy": python3 after a pause, like a kernel
    that loads a lot. Each one writes when its pause began and ended to
    ``tmp_path / "pauses"`` (one line per start, a start tried again included).
    """
    spec_dir = tmp_path / "kernels" / "slowpy"
    spec_dir.mkdir(parents=True)
    pauses = tmp_path / "pauses"
    boot = (
        f"import time; t = time.time(); time.sleep({SLOW_START}); "
        f"open({str(pauses)!r}, 'a').write(f'{{t}} {{time.time()}}\\n'); "
        "from ipykernel import kernelapp; kernelapp.launch_new_instance()"
    )
    spec = {
        "argv": [sys.executable, "-c", boot, "-f", "{connection_file}"],
        "display_name": "slow python",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    driver = KernelDriver("silik", env={**os.environ, "JUPYTER_PATH": str(tmp_path)})
    driver.pauses = pauses  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.shutdown()


def most_at_once(windows: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) windows open at one instant."""
    events = sorted([(a, 1) for a, _ in windows] + [(b, -1) for _, b in windows])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_new_starts_labels_concurrently(slow_silik):
    k = slow_silik
    res = k.ok("new slowpy -l a b c")
    assert "~/a.py, ~/b.py, ~/c.py" in res.stdout
    for name in ("a.py", "b.py", "c.py"):
        assert k.ok(f"run 'print(\"{name}\")' {name}").stdout == f"{name}\n"
    k.ok("stop a.py b.py c.py")
    # Started together, not one after the other: the three pauses overlap. (Not timed
    # against one start: a start that loses a port race is tried again, and takes twice.)
    lines = k.pauses.read_text().split("\n")[:-1]
    windows = [(float(a), float(b)) for a, b in (line.split() for line in lines)]
    assert most_at_once(windows) == 3, windows


def test_new_count(sh):
    sh.ok("mkdir many")
    res = sh.ok("new python3 -n 3 -d many")
    names = re.findall(r"~/many/(\w+\.py)", res.stdout)
    assert len(set(names)) == 3
    assert set(statuses(sh, "many")) == set(names)
    sh.ok("rm -r many")
    assert "many" not in tree_text(sh)


def test_attach_to_a_running_kernel(sh, tmp_path):
    km = start_external_kernel(str(tmp_path / "kernel-x.json"))
    try:
        res = sh.ok(f"new {km.connection_file} -l ext")
        assert "~/ext.py" in res.stdout
        assert sh.ok("run 'print(\"on ext\")' ext.py").stdout == "on ext\n"
        info = sh.ok("info ext.py").text
        assert "no (attached)" in info
        assert "attached" in sh.ok("tree").text
        fails = sh.fails(f"new {km.connection_file} -l again")
        assert "already attached" in fails.content["evalue"]
        sh.ok("stop ext.py")
        assert "ext.py" not in statuses(sh)
        time.sleep(0.5)
        assert km.is_alive(), "stop of an attached kernel must only detach"
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=10)
        finally:
            kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


def test_stop_several_paths(sh):
    sh.ok("mkdir w\nnew python3 -l s1 s2 -d w")
    before = tree_text(sh)
    res = sh.fails("stop w/s1.py w/nope.py")
    assert "nope.py" in res.content["evalue"]
    assert tree_text(sh) == before, "a failed stop must stop nothing"
    res = sh.ok("stop w/s1.py w/s2.py")
    assert "~/w/s1.py" in res.stdout and "~/w/s2.py" in res.stdout
    assert statuses(sh, "w") == {}
    sh.ok("rm w")


def test_restart_loses_state(sh):
    sh.ok("new python3 -l r")
    pid = pid_of(sh, "r.py")
    sh.ok("run 'x = 41' r.py")
    assert sh.ok("run 'print(x + 1)' r.py").stdout == "42\n"
    res = sh.ok("restart r.py")
    assert "restarted ~/r.py" in res.stdout
    assert pid_of(sh, "r.py") != pid
    res = sh.fails("run 'print(x)' r.py")
    assert res.content["ename"] == "NameError"
    sh.ok("stop r.py")


def test_interrupt_a_busy_kernel(sh):
    """`interrupt` stops code that another client (here: our own) runs on the kernel."""
    info = json.loads(sh.ok("connect_info k1.py").stdout)
    km = KernelManager()
    km.load_connection_info(info)
    kc = km.client()
    kc.start_channels()
    try:
        msg_id = kc.execute("import time; time.sleep(30)")
        time.sleep(0.5)
        res = sh.ok("interrupt k1.py")
        assert "interrupted ~/k1.py" in res.stdout
        reply = kc.get_shell_msg(timeout=10)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()


def test_frontend_interrupt_stops_a_run(sh):
    t0 = time.monotonic()
    msg_id = sh.kc.execute("run 'import time; time.sleep(30)' k1.py")
    time.sleep(1)
    sh.km.interrupt_kernel()
    res = sh.collect(msg_id, timeout=10)
    assert res.status == "error"
    assert res.content["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - t0 < 8
    assert sh.ok("run 'print(1)' k1.py").stdout == "1\n"


# -- run ----------------------------------------------------------------------
RICH_CODE = """\
import sys
from IPython.display import display, clear_output
print("out1")
sys.stdout.flush()
handle = display({"text/plain": "d1"}, raw=True, display_id=True)
handle.update({"text/plain": "d2"}, raw=True)
clear_output(wait=True)
print("err1", file=sys.stderr)
sys.stderr.flush()
6 * 7
"""


def test_run_forwards_every_iopub_type_in_order(sh):
    res = sh.ok(f"run '{RICH_CODE}' k1.py")
    kinds = [m["msg_type"] for m in res.messages]
    assert kinds == [
        "stream",
        "display_data",
        "update_display_data",
        "clear_output",
        "stream",
        "execute_result",
    ]
    out, disp, update, clear, err, result = res.messages
    assert out["content"] == {"name": "stdout", "text": "out1\n"}
    display_id = disp["content"]["transient"]["display_id"]
    assert disp["content"]["data"] == {"text/plain": "d1"}
    assert update["content"]["transient"]["display_id"] == display_id
    assert update["content"]["data"] == {"text/plain": "d2"}
    assert clear["content"] == {"wait": True}
    assert err["content"] == {"name": "stderr", "text": "err1\n"}
    assert result["content"]["data"]["text/plain"] == "42"


def test_run_error_fails_the_cell_once(sh):
    res = sh.fails("run 'def f():\n    raise ValueError(\"bad value\")\nf()' k1.py")
    assert res.content["ename"] == "ValueError"
    assert res.content["evalue"] == "bad value"
    assert any("bad value" in line for line in res.content["traceback"])
    errors = res.of_type("error")
    assert len(errors) == 1, "the sub-kernel's error must be shown once"
    assert errors[0]["content"]["ename"] == "ValueError"
    assert errors[0]["content"]["traceback"] == res.content["traceback"]


def test_run_relays_stdin(sh):
    code = "name = input('name? ')\nimport getpass\npw = getpass.getpass('pw: ')\nprint(name, pw)"
    sh.stdin_answers[:] = ["bob", "s3cret"]
    sh.input_prompts.clear()
    res = sh.ok(f'run "{code}" k1.py', allow_stdin=True)
    assert sh.input_prompts == [
        {"prompt": "name? ", "password": False},
        {"prompt": "pw: ", "password": True},
    ]
    assert res.stdout == "bob s3cret\n"
    sh.input_prompts.clear()
    res = sh.fails("run 'input()' k1.py", allow_stdin=False)
    assert res.content["ename"] == "StdinNotImplementedError"
    assert sh.input_prompts == []


def test_interrupt_while_waiting_for_input(sh):
    """Nobody answers input(): an interrupt ends the cell and silik stays usable."""
    msg_id = sh.kc.execute("run 'input(\"wait: \")' k1.py", allow_stdin=True)
    request = sh.kc.get_stdin_msg(timeout=10)  # taken, never answered
    assert request["content"]["prompt"] == "wait: "
    sh.km.interrupt_kernel()
    res = sh.collect(msg_id, timeout=10)
    assert res.status == "error"
    assert res.content["ename"] == "KeyboardInterrupt"
    assert sh.ok("run 'print(2)' k1.py").stdout == "2\n"


# -- introspection ------------------------------------------------------------
def test_info(sh):
    res = sh.ok("info k1.py")
    text = res.text
    assert re.search(r"^status:\s+idle$", text, re.M)
    assert re.search(r"^language:\s+python 3", text, re.M)
    assert re.search(r"^protocol:\s+5\.", text, re.M)
    pid = pid_of(sh, "k1.py")
    os.kill(pid, 0)  # a real, running process
    assert_no_ansi(res)


def test_connect_info(sh):
    info = json.loads(sh.ok("connect_info k1.py").stdout)
    for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        assert isinstance(info[port], int)
    assert info["key"]
    with open(info["connection_file"]) as f:
        on_disk = json.load(f)
    assert on_disk["shell_port"] == info["shell_port"]
    assert on_disk["key"] == info["key"]


def test_pipelined_mixed_requests_are_all_answered(sh):
    """silik reads its shell socket itself while ipykernel's stream sends some replies:
    a request arriving during any send must still be read (the socket's descriptor
    signals once), so a burst of every kind of request gets every reply."""
    kc = sh.kc
    sent = []
    for i in range(60):
        sent.append(kc.complete("ls ~/", 5))
        sent.append(kc.execute(f"run 'print({i})' k1.py" if i % 3 == 0 else "pwd"))
        sent.append(kc.is_complete("ls"))
        sent.append(kc.kernel_info())
        sent.append(kc.inspect("run", 2))
    deadline = time.monotonic() + 60
    answered: set[str] = set()
    while len(answered) < len(sent):
        assert time.monotonic() < deadline, f"{len(sent) - len(answered)} requests unanswered"
        reply = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
        assert reply["content"]["status"] in ("ok", "complete"), reply["content"]
        answered.add(reply["parent_header"]["msg_id"])
    assert answered == set(sent)


def test_history(sh):
    sh.ok("run 'get_ipython().history_manager.db_log_output = True' k1.py")
    sh.ok("run 'hist_marker_1 = 20' k1.py")
    sh.ok("run 'hist_marker_1 * 2 + 2' k1.py")
    text = sh.ok("history -n 50 k1.py").stdout
    assert "hist_marker_1 = 20" in text
    assert "-> " not in text
    lines = sh.ok("history -n 1 k1.py").stdout.splitlines()
    assert lines == [lines[0]] and lines[0].endswith("hist_marker_1 * 2 + 2")
    text = sh.ok("history -o -n 1 k1.py").stdout
    assert text.splitlines()[-1] == "  -> 42"
    res = sh.fails("history -n many k1.py")
    assert "whole number" in res.content["evalue"]


def test_plain_text_has_no_ansi_codes(sh):
    for cell in ("help", "help new", "new --help", "kernels", "ls", "tree", "pwd", "info k1.py"):
        res = sh.ok(cell)
        assert plain_texts(res), cell
        assert_no_ansi(res)


# -- files ------------------------------------------------------------------------
def test_source_runs_lines_and_stops_at_the_first_failure(sh, tmp_path):
    good = tmp_path / "good.silik"
    good.write_text("# setup\nmkdir srcdir\ncd srcdir\n\npwd\n")
    res = sh.ok(f"source {good}")
    assert res.stdout == "~/srcdir\n"
    sh.ok("cd")
    bad = tmp_path / "bad.silik"
    bad.write_text("mkdir srcdir/a\nmkdir srcdir/b\nbogus command\nmkdir srcdir/never\n")
    res = sh.fails(f"source {bad}")
    assert str(bad) in res.content["evalue"] and "line 3" in res.content["evalue"]
    assert "bogus" in res.content["evalue"]
    tree = tree_text(sh)
    assert "a/" in tree and "b/" in tree and "never" not in tree
    sh.ok("rm -r srcdir")


def test_cat(sh, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("line one\nline two\n")
    res = sh.ok(f"cat {f}")
    assert res.stdout == "line one\nline two\n"


# -- tree ---------------------------------------------------------------------------
def test_tree_commands(sh):
    sh.ok("mkdir t")
    sh.fails("mkdir t/x/y")
    sh.ok("mkdir -p t/x/y")
    sh.ok("mkdir -p t/x/y")  # exists: fine with -p
    sh.ok("cd t/x")
    assert sh.ok("pwd").stdout == "~/t/x\n"
    sh.ok("cd ..")
    assert sh.ok("pwd").stdout == "~/t\n"
    sh.ok("new python3 -l tk")
    assert statuses(sh, ".") == {"x/": "folder", "tk.py": "idle"}
    sh.ok("cd ~")
    tree = tree_text(sh)
    assert tree.splitlines()[0].startswith("~")
    assert "├─ t/" in tree or "╰─ t/" in tree
    assert re.search(r"tk\.py\s+\[python3 idle\]", tree)
    res = sh.ok("mv t/tk.py t/x")
    assert "~/t/tk.py -> ~/t/x/tk.py" in res.stdout
    assert sh.ok("run 'print(3)' t/x/tk.py").stdout == "3\n"
    sh.ok("mv t/x/tk.py t/x/renamed")
    assert sh.ok("run 'print(4)' t/x/renamed.py").stdout == "4\n"
    sh.ok("mv t u")
    assert "renamed.py" in statuses(sh, "u/x")
    res = sh.fails("rm u")
    assert "not empty" in res.content["evalue"]
    pid = pid_of(sh, "u/x/renamed.py")
    res = sh.ok("rm -r u")
    assert "~/u/x/renamed.py" in res.stdout
    assert "u/" not in tree_text(sh)
    assert not _running(pid), "rm -r must stop the kernels it removes"
    sh.ok("new python3 -l gone")
    pid = pid_of(sh, "gone.py")
    sh.ok("rm gone.py")
    assert not _running(pid)


def _running(pid: int, wait: float = 5.0) -> bool:
    import psutil

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.05)
    return True


# -- connect mode -------------------------------------------------------------------
def test_connect_mode(sh):
    res = sh.ok("> k1.py")
    assert "connected to ~/k1.py" in res.stdout
    res = sh.ok("cm = 40\ncm + 2")
    (result,) = res.of_type("execute_result")
    assert result["content"]["data"]["text/plain"] == "42"
    assert res.content["execution_count"] == result["content"]["execution_count"]
    res = sh.fails("1/0")
    assert res.content["ename"] == "ZeroDivisionError"
    assert len(res.of_type("error")) == 1
    assert "connected to ~/k1.py" in sh.ok("/cmd pwd").stdout
    assert re.search(r"^path:\s+~/k1\.py$", sh.ok("/cmd info").text, re.M)
    assert sh.ok("print(cm)").stdout == "40\n", "`/cmd CMD` must stay in connect mode"
    assert "back to silik" in sh.ok("/cmd").stdout
    assert sh.ok("pwd").stdout == "~\n"
    sh.ok("connect k1.py")
    assert sh.ok("print(cm + 1)").stdout == "41\n"
    sh.ok("<")
    assert sh.ok("pwd").stdout == "~\n"


def test_connect_mode_relays_stdin(sh):
    sh.ok("> k1.py")
    sh.stdin_answers[:] = ["typed"]
    res = sh.ok("print(input('? '))", allow_stdin=True)
    assert res.stdout == "typed\n"


def test_exit_asks_the_frontend_to_exit(sh):
    for word in ("exit", "quit"):
        res = sh.ok(word)
        assert {"source": "ask_exit", "keepkernel": False} in res.content["payload"]
    assert "ask_exit" not in str(sh.ok("pwd").content["payload"])


# -- multi-line cells --------------------------------------------------------------
def test_multi_line_cell_runs_line_by_line(sh):
    res = sh.ok("mkdir ml\ncd ml\npwd\nrun 'print(5)' ~/k1.py")
    assert res.stdout == "~/ml\n5\n"
    sh.ok("cd ~")
    res = sh.fails("mkdir ml/a\nmkdir ml/b\nbogus\nmkdir ml/c")
    assert "line 3" in res.content["evalue"] and "bogus" in res.content["evalue"]
    assert len(res.of_type("error")) == 1
    assert statuses(sh, "ml") == {"a/": "folder", "b/": "folder"}
    res = sh.fails("mkdir ml/d\nrun '1/0' k1.py\nmkdir ml/e")
    assert res.content["ename"] == "ZeroDivisionError"
    assert len(res.of_type("error")) == 1
    assert "e/" not in statuses(sh, "ml")
    sh.ok("rm -r ml")


def test_a_line_that_switches_mode_ends_the_cell(sh):
    res = sh.ok("> k1.py\nprint('never')\nmkdir never")
    assert "never" not in res.text
    assert "connected to ~/k1.py" in res.stdout
    sh.ok("<")
    assert "never" not in tree_text(sh)
    res = sh.ok("mkdir sw\n> k1.py\nmkdir sw/never")
    assert "connected to ~/k1.py" in res.stdout
    sh.ok("<")
    assert statuses(sh, "sw") == {}
    sh.ok("rm sw")


# -- errors -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def binary_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bin") / "blob.silik"
    path.write_bytes(b"\xff\xfe\x00\x81 not text")
    return path


ERRORS = [
    ("tre", "unknown command 'tre'", "did you mean `tree`"),
    ("nosuch", "unknown command 'nosuch'", "help"),
    ("new", "missing KERNEL", "usage: new"),
    ("run 'print(1)'", "missing", "usage: run"),
    ("pwd extra", "unexpected argument 'extra'", "usage: pwd"),
    ("run 'print(1)' k1.py extra", "unexpected argument", "quotes"),
    ("mkdir -z d", "unknown option -z", "usage: mkdir"),
    ("ls nowhere/x", "no such kernel or folder: nowhere/x", None),
    ("run 'print(1)' k2.py", "no such kernel or folder: k2.py", "k1.py"),
    ("run 'print(1)' k1", "no such kernel or folder: k1", "k1.py"),
    ("new pyton3", "unknown kernelspec 'pyton3'", "did you mean python3"),
    ("new nosuchspec -l z", "unknown kernelspec 'nosuchspec'", "python3"),
    ("run 'print(1) k1.py", "unterminated ' quote", "close it"),
    ("new python3 -l k1", "~/k1.py already exists", "another name"),
    ("new python3 -l dup dup", "the same label is given twice", None),
    ("new python3 -l fresh k1", "~/k1.py already exists", None),
    ("new python3 -l 'bad name'", "invalid name 'bad name'", "letters"),
    ("cd k1.py", "cannot cd into ~/k1.py: it is a kernel", "> k1.py"),
    ("> errdir", "~/errdir is a folder, not a kernel", None),
    ("connect errdir", "~/errdir is a folder, not a kernel", None),
    ("stop k1.py nowhere.py", "no such kernel or folder: nowhere.py", None),
    ("mkdir errdir", "folder ~/errdir already exists", "mkdir -p"),
    ("mv errdir errdir/in", "into itself", None),
    ("source /nonexistent/setup.silik", "no such file: /nonexistent/setup.silik", None),
    ("source {binary}", "is not a UTF-8 text file", None),
    ("source /", "is a directory", None),
    ("cat /nonexistent", "no such file", None),
    ("rm ~", "cannot remove ~", None),
]


@pytest.mark.parametrize(("cell", "evalue", "hint"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_are_actionable_and_change_nothing(sh, binary_file, cell, evalue, hint):
    sh.execute("mkdir errdir")
    cell = cell.format(binary=binary_file)
    before = tree_text(sh)
    res = sh.fails(cell)
    content = res.content
    assert evalue in content["evalue"]
    assert content["ename"] in ("SilikError", "KernelDied")
    tb = "\n".join(content["traceback"])
    assert content["traceback"][0] == f"{content['ename']}: {content['evalue']}"
    if hint:
        assert hint in tb
    assert "Traceback (most recent call last)" not in tb
    assert 'File "' not in tb and "silik_kernel" not in tb
    assert not ANSI.search(tb)
    (published,) = res.of_type("error")
    assert published["content"]["traceback"] == content["traceback"]
    assert tree_text(sh) == before
    sh.ok("rm errdir")
