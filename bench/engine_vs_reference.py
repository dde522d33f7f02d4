"""`posai evaluate` versus the reference, whole process against whole process, same run.

usage: python bench/engine_vs_reference.py REFERENCE.py ORDERS.csv[.gz] [--synthetic] [--k 2]

For each history (the given file, and with --synthetic also a generated 15,000-order history
with ~10 items per order) it runs `python REFERENCE.py FILE K` and
`python -m posai_app.reco.cli evaluate FILE --k K --json --quiet`, checks that the four original
metrics' figures are equal to 1e-9, and prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = ("cooccurrence", "cosine", "confidence", "lift")


CPU: dict[str, float] = {}


def timed(cmd: list[str]) -> tuple[float, dict]:
    """Wall seconds and parsed JSON output; the child's CPU seconds are kept in CPU["last"]."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - started, json.loads(done.stdout)


def compare(path: str, reference: str, k: int, repeats: int) -> bool:
    engine_cmd = [
        sys.executable,
        "-m",
        "posai_app.reco.cli",
        "evaluate",
        path,
        "--k",
        str(k),
        "--json",
        "--quiet",
    ]
    engine_times, engine_cpu = [], []
    for _ in range(repeats):
        seconds, ours = timed(engine_cmd)
        engine_times.append(seconds)
        engine_cpu.append(CPU["last"])
    ref_seconds, theirs = timed([sys.executable, reference, path, str(k)])
    ref_cpu = CPU["last"]
    engine_seconds = min(engine_times)
    worst = 0.0
    for metric in ORIGINAL:
        for figure in ("hitRate", "precision", "recall"):
            worst = max(worst, abs(ours["results"][metric][figure] - theirs["results"][metric][figure]))
    same = (
        worst <= 1e-9
        and ours["trainOrders"] == theirs["trainOrders"]
        and ours["evaluatedOrders"] == theirs["evaluatedOrders"]
    )
    print(f"\n{path}: {ours['trainOrders']} train orders, {ours['evaluatedOrders']} evaluated carts, K={k}")
    print(f"{'metric':<14}{'reference':>12}{'posai':>12}")
    for metric in ORIGINAL:
        print(
            f"{metric:<14}{theirs['results'][metric]['hitRate']:>12.6f}{ours['results'][metric]['hitRate']:>12.6f}"
        )
    print(
        f"max |difference| over HitRate/Precision/Recall: {worst:.3g}  -> {'EQUAL' if same else 'DIFFERENT'}"
    )
    print(
        f"wall time: reference {ref_seconds:.1f}s, posai evaluate {engine_seconds:.2f}s "
        f"(best of {repeats}: {', '.join(f'{t:.2f}' for t in engine_times)}) "
        f"-> {ref_seconds / engine_seconds:.0f}x"
    )
    print(
        f"CPU time (user+sys): reference {ref_cpu:.1f}s, posai evaluate {min(engine_cpu):.2f}s "
        f"-> {ref_cpu / min(engine_cpu):.0f}x (shared machine: CPU time is the steadier measure)"
    )
    return same


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("reference")
    parser.add_argument("orders", nargs="?")
    parser.add_argument("--synthetic", action="store_true", help="also a 15,000-order, ~10-item history")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ok = True
    if args.orders:
        ok &= compare(args.orders, args.reference, args.k, args.repeats)
    if args.synthetic:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from synthetic import write_csv

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "synthetic_15k.csv.gz")
            # Mild popularity skew: calibrated so that the reference needs ~90 s, as in the issue.
            write_csv(path, 15_000, 5_000, 11.5, seed=1, exponent=0.5)
            ok &= compare(path, args.reference, args.k, args.repeats)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
