"""Through a real silik kernel: a cell with bad input ends with a clear error within
seconds, the next cell works, and a long `source` stays interruptible."""

from __future__ import annotations

import os
import time

import pytest

DEEP = "/".join(["d"] * 1000)


def test_bad_input_ends_the_cell_at_once_and_the_next_cell_works(silik, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: no disk used
    loop = tmp_path / "loop.silik"
    loop.write_text(f"source {loop}\n")
    cells = [
        (f"cat {fifo}", "is not a regular file (it is a FIFO)"),
        (f"source {fifo}", "is not a regular file (it is a FIFO)"),
        ("cat /dev/zero", "is not a regular file (it is a character device)"),
        (f"cat {big}", "cat reads files of at most 1 MiB"),
        ('cat "a\x00b"', "null character"),
        (f"source {loop}", "`source` nests at most 16 files deep"),
        ("new python3 -n 1000000000", "new: -n must be between 1 and 64"),
        (f"mkdir -p {DEEP}", "folders nest at most 100 deep"),
        ("mkdir " + "n" * 1000, "is too long: 1000 characters, at most 255"),
        ("mkdir " + "n" * 100_000, "a path of 100000 characters is too long"),
    ]
    for cell, expected in cells:
        started = time.monotonic()
        res = silik.fails(cell, timeout=15)
        assert time.monotonic() - started < 5, cell[:40]
        assert expected in res.content["evalue"], (cell[:40], res.content["evalue"])
        assert res.content["ename"] == "SilikError"
        assert "internal" not in res.text
        assert silik.ok("pwd").stdout == "~\n"
    assert silik.ok("ls").stdout.strip() == "~ is empty"  # nothing was made


@pytest.mark.timeout(60)
def test_an_interrupt_stops_a_long_source_between_lines(silik, tmp_path):
    script = tmp_path / "long.silik"
    script.write_text("cd .\n" * 200_000)  # ~1 MiB of lines that never wait: seconds to run
    # A fresh kernel's first control message is slow to handle while its main thread
    # is busy (the control thread starts up competing for the GIL): send it idle.
    silik.km.interrupt_kernel()
    time.sleep(0.5)
    silik.ok("pwd")
    msg_id = silik.kc.execute(f"source {script}")
    time.sleep(0.5)
    interrupted = time.monotonic()
    silik.km.interrupt_kernel()
    res = silik.collect(msg_id, timeout=30)
    assert res.status == "error" and res.content["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - interrupted < 1.5
    assert silik.ok("pwd").stdout == "~\n"


def test_every_command_works_at_the_deepest_folder(silik):
    deepest = "~/" + "/".join(["d"] * 100)
    silik.ok(f"mkdir -p {deepest}\ncd {deepest}\nnew python3 -l k")
    assert silik.ok("run 'print(6 * 7)' k.py").stdout == "42\n"
    assert silik.ok("pwd").stdout == deepest + "\n"
    assert "k.py" in silik.ok("ls").text
    assert silik.ok("tree").text.rstrip().endswith("╰─ k.py  [python3 idle]")
    silik.ok("mv k.py k2")
    assert "folders nest at most 100 deep" in silik.fails("mkdir e").content["evalue"]
    silik.ok("stop k2.py")
    silik.ok("new python3 -l k3\ncd ~")
    assert "stopped" in silik.ok("rm -r d").stdout
    assert silik.ok("ls").stdout.strip() == "~ is empty"
