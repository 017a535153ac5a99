"""Two versions of silik in the same rounds: is a change faster, slower, or noise?

    python benchmarks/ab.py --base HEAD~3            # 3 rounds of each, alternating
    python benchmarks/ab.py --base main --rounds 5

Each round runs this checkout's ``benchmarks/run.py`` twice, once with the
base revision's code on PYTHONPATH and once with this checkout's (the order
alternates between rounds), so both versions see the same machine drift. The
base revision is checked out into a temporary git worktree. Printed per row:
the median of each version's per-round figures, their ranges, the ratio of
medians, and "worse" only when the ranges do not overlap (the new version's
best round is slower than the base's worst): a difference beyond the
run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def figure(cell: str) -> float | None:
    """The number in a table cell such as "1.23 ms" (None for "-")."""
    head = cell.split()[0] if cell.strip() else "-"
    try:
        return float(head)
    except ValueError:
        return None


def one_run(tree: Path, quick: bool) -> dict[str, float]:
    """One run of run.py with ``tree``'s silik; its silik figures by measure."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(HERE / "run.py"), "--json", path] + (["--quick"] if quick else [])
    try:
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, timeout=3600)
        rows = json.loads(Path(path).read_text())["rows"]
    finally:
        os.unlink(path)
    return {r[0]: v for r in rows if (v := figure(r[2])) is not None}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each version")
    parser.add_argument("--quick", action="store_true", help="run.py --quick (a smoke test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="silik-ab-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
            timeout=120,
        )
        try:
            results: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
            for i in range(args.rounds):
                order = [("base", base), ("new", ROOT)]
                for name, tree in order if i % 2 == 0 else reversed(order):
                    print(f"round {i + 1}/{args.rounds}: {name}", flush=True)
                    results[name].append(one_run(tree, args.quick))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
                timeout=120,
            )
    print()
    print(report(results, args.base))
    return 0


def report(results: dict[str, list[dict[str, float]]], base_name: str) -> str:
    measures = [m for m in results["new"][0] if all(m in r for rs in results.values() for r in rs)]
    head = ("measure", f"base ({base_name})", "new", "new/base", "")
    rows = []
    for m in measures:
        b = [r[m] for r in results["base"]]
        n = [r[m] for r in results["new"]]
        ratio = statistics.median(n) / statistics.median(b) if statistics.median(b) else 0.0
        # Every row is a time, a memory size or a count of lost outputs: lower is better.
        verdict = "worse" if min(n) > max(b) else "better" if max(n) < min(b) else ""
        rows.append(
            (
                m,
                f"{statistics.median(b):.3f} [{min(b):.3f}-{max(b):.3f}]",
                f"{statistics.median(n):.3f} [{min(n):.3f}-{max(n):.3f}]",
                f"{ratio:.3f}x",
                verdict,
            )
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in [head, *rows]
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
