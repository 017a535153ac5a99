"""A seeded fuzz in CI: a few hundred command lines and typing requests through
jupyter_client against a real silik with two python3 sub-kernels
(benchmarks/fuzz.py, whose long run is 10,000 lines). None may end in an
internal error, go unanswered or be answered with an invalid message."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_seeded_fuzz_finds_no_internal_error_missing_reply_or_invalid_message(tmp_path):
    out = tmp_path / "fuzz.json"
    script = os.path.join(ROOT, "benchmarks", "fuzz.py")
    cmd = [sys.executable, script, "--lines", "300", "--requests", "300", "--seed", "18"]
    proc = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True, timeout=110)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    found = {k: result[k] for k in ("internal errors", "missing replies", "invalid messages")}
    assert found == dict.fromkeys(found, 0) and result["crashes"] == 0, result["examples"]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert result["log"] == ""  # removed: nothing to look into
