"""How long `tenantctl --help` takes to start, and which imports cost the most.

Run from the repository root: `python -m benchmarks.cli_startup [--runs 7]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "control_plane.cli", "--help"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(COMMAND, env=env, cwd=ROOT, capture_output=True, check=True)
        timings.append(time.perf_counter() - start)
    bare = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, capture_output=True, check=True)
        bare.append(time.perf_counter() - start)
    print(f"tenantctl --help: median {statistics.median(timings):.3f} s over {args.runs} runs")
    print(f"python -c pass:   median {statistics.median(bare):.3f} s (the interpreter alone)")
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", *COMMAND[1:]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in traced.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    print("largest cumulative imports (-X importtime, microseconds):")
    for cumulative, name in sorted(rows, reverse=True)[:8]:
        print(f"  {cumulative:>9}  {name.strip()}")


if __name__ == "__main__":
    main()
