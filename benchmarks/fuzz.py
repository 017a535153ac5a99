"""Fuzz a real silik kernel (with two python3 sub-kernels) through jupyter_client.

    python benchmarks/fuzz.py --lines 10000 --requests 2000 --seed 1
    python benchmarks/fuzz.py --lines 300 --requests 300 --seed 1   # what CI runs

Command lines are valid lines and their mutations (words dropped, doubled,
swapped or replaced, quotes and odd characters inserted); typing requests are
complete, inspect, is_complete, history and execute requests, valid or with fields
dropped, retyped or out of range. Everything is seeded: the same seed sends
the same messages. Counted:

- internal errors: a reply or output saying "internal error" (how silik and
  agent kernels mark their own failures, as opposed to a user's), or a
  traceback in silik's log (a handler that failed without replying);
- missing replies: a request without exactly one reply (and, for a cell, its
  idle) within the timeout;
- invalid messages: a message that fails the message spec's schema
  (jupyter_kernel_test's), or a reply of the wrong type;
- crashes: silik not running any more.

Exit status 1 if any is not 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from queue import Empty
from typing import Any

from jupyter_client.manager import KernelManager
from jupyter_kernel_test.msgspec_v5 import schema_fragments, validate_message

# jupyter_kernel_test 0.7 types input_request.password as a number; the spec says boolean.
schema_fragments["input_request"]["properties"]["password"] = {"type": "boolean"}

TIMEOUT = 30.0  # seconds a cell or a request may take before its reply counts as missing
SETUP = ["new python3 -l k1 k2", "run 'x = 1' k1.py", "mkdir -p work/deep"]
#: lines that run and change nothing for good (no kernel started, stopped or left)
VALID = [
    "ls",
    "ls ~",
    "ls work",
    "tree",
    "tree work",
    "pwd",
    "cd work",
    "cd ..",
    "cd",
    "mkdir -p a/b/c",
    "mkdir d1",
    "mv d1 d2",
    "mv d2 work/",
    "rm -r a",
    "rm -r work/d2",
    "run 'x = 1' k1.py",
    'run "print(x)" k1.py',
    "run 'print(1/0)' k2.py",
    "run 'import sys; sys.stderr.write(\"e\\n\")' k2.py",
    "broadcast 'print(3)' k1.py k2.py",
    "broadcast 'y = 2' ~/*",
    "info k1.py",
    "history k1.py -n 3",
    "history k2.py -o",
    "help",
    "help run",
    "kernels",
    "connect_info k2.py",
    "cat /etc/hostname",
    "cat nosuch.txt",
    "source nosuch.silik",
    "interrupt k1.py",
    "cmd",
    "/cmd ls",
    "exit",
    "ls k1.py",
]
#: commands that start, stop or wait for kernels, or reach the network: a line
#: starting with one is left out, so the run stays short and its kernels alive.
#: Connect mode is left out too: there, lines such as `rm -r a` are IPython's
#: shell aliases in the sub-kernel.
COSTLY = {"new", "start", "restart", "stop", "rm", "timeit", ">", "connect", "kernels"}
WORDS = [
    *("ls", "tree", "cd", "mkdir", "mv", "run", "cat", "source", "info", "history"),
    *("help", "broadcast", "interrupt", "pwd", "cmd", "/cmd", "<", "new", "stop", "rm"),
    *("k1.py", "k2.py", "~", "..", "/", ".", "*", "~/*", "a/b/c", "nosuch.py", "work/deep"),
    *("-l", "-n", "-r", "-o", "-p", "-d", "-x", "--", "--help", "-n 0", "-n -1", "-n 99999"),
    *('"', "'", "\\", "\\n", '""', "''", "'print(1)'", '"x = 1"', "'1/0'"),
    *("0", "-1", "99999999999999999999", "1e9", "nan", "é", "日本", "\udcff", "\x00", "\t"),
    *("x" * 300, "a/" * 40, "$HOME", "`ls`", ";", "&&", "|", ">", "<<", "#", "%%"),
]
ODD = ["\x00", "\udcff", '"', "'", "\\", "\n", "\t", " ", "é", "\u202e", "\x1b[31m"]


def mutate(rng: random.Random, line: str) -> str:
    """``line`` changed in one to three random ways."""
    for _ in range(rng.randint(1, 3)):
        words = line.split(" ")
        how = rng.randrange(8)
        i = rng.randrange(len(words) + 1)
        if how == 0 and len(words) > 1:
            del words[min(i, len(words) - 1)]
        elif how == 1:
            words.insert(i, rng.choice(WORDS))
        elif how == 2 and words:
            words[min(i, len(words) - 1)] = rng.choice(WORDS)
        elif how == 3:
            words = words + words[rng.randrange(len(words)) :]
        elif how == 4:
            rng.shuffle(words)
        line = " ".join(words)
        if how == 5 and line:
            at = rng.randrange(len(line) + 1)
            line = line[:at] + rng.choice(ODD) + line[at:]
        elif how == 6:
            line = line[: rng.randrange(len(line) + 1)]
        elif how == 7:
            line = line.replace(rng.choice(["'", '"', " "]), "")
    return line


def command_lines(rng: random.Random, count: int) -> list[str]:
    """``count`` lines: a third valid, the rest mutated; never a COSTLY one."""
    lines: list[str] = []
    while len(lines) < count:
        line = rng.choice(VALID)
        if rng.random() < 0.7:
            line = mutate(rng, line)
        words = line.split()
        if words and (words[0] in COSTLY or "-g" in words or "--gateway" in words):
            continue
        lines.append(line)
    return lines


ODD_VALUES: list[Any] = [None, True, False, "x", "", 1.5, -1, 0, 10**30, -(10**30), [], {}, [1]]


def typing_requests(rng: random.Random, count: int, codes: list[str]) -> list[tuple[str, Any]]:
    """``count`` (msg_type, content): valid requests and ones with a field dropped,
    retyped or out of range, or extra fields."""
    found: list[tuple[str, Any]] = []
    for _ in range(count):
        code = rng.choice(codes) if rng.random() < 0.8 else mutate(rng, rng.choice(codes))
        kind = rng.choice(["complete", "inspect", "is_complete", "history", "execute"])
        pos = rng.choice([len(code), rng.randint(0, len(code)), rng.randint(-50, len(code) + 50)])
        content: Any = {
            "complete": {"code": code, "cursor_pos": pos},
            "inspect": {"code": code, "cursor_pos": pos, "detail_level": rng.choice([0, 1])},
            "is_complete": {"code": code},
            "execute": {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
            },
            "history": {
                "hist_access_type": rng.choice(["tail", "range", "search"]),
                "output": rng.random() < 0.5,
                "raw": True,
                "n": rng.randint(0, 20),
                "pattern": rng.choice(["*", "ls*", "run*"]),
                "session": 0,
                "start": rng.randint(-3, 5),
            },
        }[kind]
        if rng.random() < 0.6:
            fields = sorted(content)
            for _ in range(rng.randint(1, 2)):
                name = rng.choice(fields + ["extra"])
                if rng.random() < 0.3:
                    content.pop(name, None)
                else:
                    content[name] = rng.choice(ODD_VALUES)
        if rng.random() < 0.02:
            content = rng.choice([None, [], "code", 3])
        found.append((f"{kind}_request", content))
    return found


class Fuzzer:
    """One silik kernel, its log, and what went wrong so far."""

    def __init__(self, log_path: str, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in close())
        self.km = KernelManager(kernel_name="silik")
        self.home = tempfile.mkdtemp(prefix="silik-fuzz-")  # where `cat`, `source` look
        self.km.start_kernel(stderr=self.log, cwd=self.home)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.counts = {"internal errors": 0, "missing replies": 0, "invalid messages": 0}
        self.examples: list[str] = []
        self.max_latency = 0.0
        self.slowest = ""

    def problem(self, kind: str, what: str) -> None:
        self.counts[kind] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{kind}: {what[:300]}")

    def valid(self, msg: dict[str, Any], what: str) -> bool:
        try:
            validate_message(msg)
        except Exception as exc:
            self.problem("invalid messages", f"{what}: {msg.get('msg_type')}: {exc}")
            return False
        return True

    def internal(self, content: Any, what: str) -> None:
        text = json.dumps(content, default=str)
        if "internal error" in text or "InternalError" in text:
            self.problem("internal errors", f"{what}: {text}")

    def run_line(self, line: str) -> None:
        """One cell: its reply and its idle, every message valid."""
        start = time.monotonic()
        msg_id = self.kc.execute(line, allow_stdin=False, stop_on_error=False)
        what = f"cell {line!r}"
        replies = 0
        idle = False
        deadline = start + self.timeout
        while not idle or replies == 0:
            left = deadline - time.monotonic()
            if left <= 0:
                self.problem("missing replies", f"{what}: reply {replies}, idle {idle}")
                return
            try:
                msg = self.kc.get_shell_msg(timeout=0)
            except Empty:
                pass
            else:
                if msg["parent_header"].get("msg_id") == msg_id:
                    replies += 1
                    if self.valid(msg, what) and msg["msg_type"] != "execute_reply":
                        self.problem("invalid messages", f"{what}: {msg['msg_type']}")
                    self.internal(msg["content"], what)
                continue
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 0.005))
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                idle = self._on_iopub(msg, what) or idle
            else:
                self.valid(msg, "iopub")
        self._took(time.monotonic() - start, what)
        self._extra_replies(msg_id, what)

    def _took(self, seconds: float, what: str) -> None:
        if seconds > self.max_latency:
            self.max_latency, self.slowest = seconds, what[:200]

    def _on_iopub(self, msg: dict[str, Any], what: str) -> bool:
        """Check one output of the cell; True for its idle."""
        self.valid(msg, what)
        if msg["msg_type"] in ("stream", "error", "display_data", "execute_result"):
            self.internal(msg["content"], what)
        return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"

    def _extra_replies(self, msg_id: str, what: str) -> None:
        try:
            while True:
                msg = self.kc.get_shell_msg(timeout=0)
                if msg["parent_header"].get("msg_id") == msg_id:
                    self.problem("missing replies", f"{what}: a second reply")
        except Empty:
            pass

    def ask(self, msg_type: str, content: Any) -> None:
        """One typing request: exactly one reply, of the right type, valid."""
        start = time.monotonic()
        what = f"{msg_type} {json.dumps(content, default=str)[:200]}"
        parts = [self.kc.session.pack(self.kc.session.msg_header(msg_type))]
        parts += [b"{}", b"{}", json.dumps(content).encode()]
        msg_id = json.loads(parts[0])["msg_id"]
        sign = self.kc.session.sign(parts)
        self.kc.shell_channel.socket.send_multipart([b"<IDS|MSG>", sign, *parts])
        deadline = start + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.problem("missing replies", what)
                return
            try:
                msg = self.kc.get_shell_msg(timeout=left)
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        self.max_latency = max(self.max_latency, time.monotonic() - start)
        if self.valid(msg, what) and msg["msg_type"] != msg_type.replace("_request", "_reply"):
            self.problem("invalid messages", f"{what}: answered by {msg['msg_type']}")
        self.internal(msg["content"], what)
        self._extra_replies(msg_id, what)

    def drain_iopub(self) -> None:
        try:
            while True:
                self.valid(self.kc.get_iopub_msg(timeout=0), "iopub")
        except Empty:
            pass

    def logged_tracebacks(self) -> list[str]:
        with open(self.log_path, "rb") as log:
            text = log.read().decode("utf-8", "replace")
        blocks = text.split("Traceback (most recent call last)")[1:]
        return [block.strip().splitlines()[-1] for block in blocks if block.strip()]

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
            self.log.close()
            shutil.rmtree(self.home, ignore_errors=True)


def fuzz(lines: int, requests: int, seed: int, timeout: float = TIMEOUT) -> dict[str, Any]:
    rng = random.Random(seed)
    cells = command_lines(rng, lines)
    asks = typing_requests(rng, requests, cells + ["x = 1", "print(x", "import o", "k1."])
    work: list[tuple[str, Any]] = [("cell", c) for c in cells] + list(asks)
    rng.shuffle(work)
    with tempfile.NamedTemporaryFile(prefix="silik-fuzz-", suffix=".log", delete=False) as f:
        log_path = f.name
    fuzzer = Fuzzer(log_path, timeout)
    started = time.monotonic()
    crashed = 0
    try:
        for line in SETUP:
            fuzzer.run_line(line)
        for i, (kind, item) in enumerate(work):
            if kind == "cell":
                fuzzer.run_line(item)
            else:
                fuzzer.ask(kind, item)
            if i % 50 == 49:
                fuzzer.run_line("<")  # back to command mode, if a line connected
                fuzzer.drain_iopub()
                if not fuzzer.km.is_alive():
                    crashed = 1
                    break
        crashed = crashed or int(not fuzzer.km.is_alive())
    finally:
        fuzzer.close()
    for last_line in fuzzer.logged_tracebacks():
        fuzzer.problem("internal errors", f"in silik's log ({log_path}): {last_line}")
    if not any(fuzzer.counts.values()):
        os.unlink(log_path)  # nothing to look into
        log_path = ""
    return {
        "seed": seed,
        "command lines": lines,
        "typing requests": requests,
        **fuzzer.counts,
        "crashes": crashed,
        "max latency (s)": round(fuzzer.max_latency, 3),
        "slowest": fuzzer.slowest,
        "seconds": round(time.monotonic() - started, 1),
        "examples": fuzzer.examples,
        "log": log_path,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000, help="command lines to run")
    parser.add_argument("--requests", type=int, default=2_000, help="typing requests to send")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per request")
    parser.add_argument("--json", help="also write the counts to this file")
    args = parser.parse_args(argv)
    result = fuzz(args.lines, args.requests, args.seed, args.timeout)
    for key, value in result.items():
        if key != "examples":
            print(f"{key}: {value}")
    for example in result["examples"]:
        print("  " + example.replace("\n", "\\n"))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    bad = ("internal errors", "missing replies", "invalid messages", "crashes")
    return 1 if any(result[key] for key in bad) else 0


if __name__ == "__main__":
    sys.exit(main())
