"""How long ``civiclake --help`` takes: the whole command, interpreter start-up included.

    .venv/bin/python bench/cli_help.py [runs]

Runs ``python -m civiclake --help`` ``runs`` times (default 10) in fresh processes, after
one unmeasured run to warm the file cache, and prints the best and the median wall time.
The goal is under 0.5 s (the help imports no engine, parser or Arrow: see
tests/cli/test_help.py); record it in bench/RESULTS.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

GOAL = 0.5


def timed_help() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "civiclake", "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def main(runs: int) -> None:
    timed_help()  # warm the file cache
    times = [timed_help() for _ in range(runs)]
    best, median = min(times), statistics.median(times)
    print(f"civiclake --help, {runs} runs: best {best:.3f} s, median {median:.3f} s")
    print(f"  goal under {GOAL} s: {'met' if best < GOAL else 'MISSED'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
