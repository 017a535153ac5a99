"""CI runs the benchmark in its quick mode: it must run and lose no output.

No wall-clock threshold is asserted here; the figures are for people (README).
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_benchmark_quick_mode_runs_and_loses_nothing(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| measure" in proc.stdout
    assert "outputs in the wrong cell" in proc.stdout and "lines lost" in proc.stdout
    # the reference relays (benchmarks/relays.py) ran beside silik's connect mode
    assert "libzmq's C proxy" in proc.stdout and "minimal Python relay" in proc.stdout
