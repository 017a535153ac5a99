"""Two versions of silik in the same rounds: is a change faster, slower, or noise?

    python benchmarks/ab.py --base HEAD~3            # 3 rounds of each, alternating
    python benchmarks/ab.py --base main --rounds 5
    python benchmarks/ab.py --base main --cells 300  # the per-cell paths only, finer

Each round runs this checkout's ``benchmarks/run.py`` twice, once with the
base revision's code on PYTHONPATH and once with this checkout's (the order
alternates between rounds), so both versions see the same machine drift. The
base revision is checked out into a temporary git worktree. A row compares the
silik/direct ratio of each run (direct is measured in the same run, so the
machine's state between runs cancels out), or silik's own figure where there
is no direct one: the median of each version's runs, their ranges, and
"worse" only when the ranges do not overlap (the new version's best run is
above the base's worst): a difference beyond the run-to-run noise.

``--cells N`` times the two paths every cell takes instead (a one-line `run`
cell, and a connect-mode cell), with a direct client, the base silik and the
new silik in the same rotating rounds of N cells, each version with its own
python3 sub-kernel.
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
    """One run of run.py with ``tree``'s silik: by measure, silik/direct (or silik's
    own figure, or silik's extra ms, where that is what the row says)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(HERE / "run.py"), "--json", path] + (["--quick"] if quick else [])
    try:
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, timeout=3600)
        rows = json.loads(Path(path).read_text())["rows"]
    finally:
        os.unlink(path)
    found = {}
    for measure, _direct, silik, ratio, _target in rows:
        if ratio.endswith("x"):
            found[measure + " (silik/direct)"] = float(ratio[:-1])
        elif ratio.endswith(" ms"):
            found[measure + " (silik - direct, ms)"] = float(ratio.split()[0])
        elif (value := figure(silik)) is not None:
            found[measure] = value
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each version")
    parser.add_argument("--quick", action="store_true", help="run.py --quick (a smoke test)")
    parser.add_argument("--cells", type=int, help="time the per-cell paths in N rotating rounds")
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
            if args.cells:
                print(cell_rounds(base, args.cells, args.base))
                return 0
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


def cell_rounds(base: Path, n: int, base_name: str) -> str:
    """Each version's per-cell paths, timed in the same rotating rounds as a direct
    cell; the spread is over five blocks of the rounds. Then starting kernels, one
    version after the other."""
    sys.path.insert(0, str(HERE))
    from run import Client

    direct = Client("python3")
    old = Client("silik", env={**os.environ, "PYTHONPATH": str(base)})
    new = Client("silik", env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = []
    try:
        for c in (old, new):
            c.ok("new python3 -l k1\nmkdir more\nnew python3 -n 3 -d more")
        for label, cell, enter in (
            ('`run "pass" k1.py`', 'run "pass" k1.py', None),
            ("`tree` with 4 kernels", "tree", None),
            ("connect-mode `pass`", "pass", "> k1.py"),
        ):
            if enter:
                old.ok(enter)
                new.ok(enter)
            clients = [(direct, "pass"), (old, cell), (new, cell)]
            lines.append(_rotating(label, clients, n, base_name))
        for c in (old, new):
            c.ok("/cmd")
        took: list[list[float]] = [[], []]
        for i in range(max(n // 60, 3)):
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                client = (old, new)[k]
                client.ok("mkdir s")
                took[k].append(client.run("new python3 -n 4 -d s")[0])
                client.ok("rm -r s")
        o, w = statistics.median(took[0]), statistics.median(took[1])
        lines.append(
            f"start 4 kernels in one cell: base {o:.3f} s [{min(took[0]):.3f}-{max(took[0]):.3f}],"
            f" new {w:.3f} s [{min(took[1]):.3f}-{max(took[1]):.3f}] = {w / o:.3f}x of base"
        )
    finally:
        for c in (direct, old, new):
            c.close()
    return "\n".join(lines)


def _rotating(label: str, clients: list, n: int, base_name: str) -> str:
    """n rounds of one cell on each client, each round starting one client later."""
    for client, code in clients * 10:  # warm up
        client.run(code)
    times: list[list[float]] = [[] for _ in clients]
    for i in range(n):
        for j in range(len(clients)):
            k = (i + j) % len(clients)
            client, code = clients[k]
            times[k].append(client.run(code)[0] * 1000)
    d, o, w = (statistics.median(t) for t in times)
    blocks = [
        (statistics.median(times[2][b::5]) - statistics.median(times[1][b::5]))
        / statistics.median(times[0][b::5])
        for b in range(5)
    ]
    return (
        f"{label}: direct `pass` {d:.3f} ms, base ({base_name}) {o:.3f} ms = {o / d:.3f}x, "
        f"new {w:.3f} ms = {w / d:.3f}x; new - base = {(w - o) / d:+.3f}x of direct "
        f"(five blocks: {min(blocks):+.3f} to {max(blocks):+.3f})"
    )


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
