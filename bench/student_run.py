"""One student's run, measured: ``python -m checks --target solutions`` (every stage), cold and warm.

Cold: a new cache folder each time (initdb, server start, first imports). Warm: the same cache
folder again (the server's data exists; each run still starts and stops the server unless
``python -m checks db start`` keeps it up, which ``--kept`` measures). Each run also counts the
CPU-seconds the whole machine was busy (the server and the target's processes too); divided by
the cores, that is the shortest a run could take here. Prints the median and the spread of
each; nothing is asserted.

    python bench/student_run.py [--runs 5] [--target solutions] [--stage 01 ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from installed import fresh_environment

ROOT = Path(__file__).resolve().parents[1]


def busy() -> float:
    """CPU-seconds this machine has spent busy so far (every process: the run's server and subjects too)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of one run, and the machine's busy CPU-seconds meanwhile."""
    start, cpu = time.perf_counter(), busy()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"the run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start, busy() - cpu


def summary(name: str, runs: list[tuple[float, float]]) -> str:
    times = [wall for wall, _ in runs]
    cpu = statistics.median(cpu for _, cpu in runs)
    return (
        f"{name:<6} median {statistics.median(times):.2f} s  (min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs);"
        f" {cpu:.2f} CPU-s a run, at best {cpu / (os.cpu_count() or 1):.2f} s on {os.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", default="solutions")
    parser.add_argument("--stage", action="append", default=[])
    parser.add_argument("--kept", action="store_true", help="keep the server running between warm runs (db start)")
    args = parser.parse_args()
    command = [sys.executable, "-m", "checks", *args.stage, "--target", args.target]
    base = fresh_environment()
    with tempfile.TemporaryDirectory(prefix="student-bench-") as tmp:
        cold = [timed(command, base | {"SQL_LAB_CACHE_DIR": tempfile.mkdtemp(dir=tmp)}) for _ in range(args.runs)]
        env = base | {"SQL_LAB_CACHE_DIR": tempfile.mkdtemp(dir=tmp)}
        timed(command, env)  # the first run makes the data folder
        if args.kept:
            subprocess.run([sys.executable, "-m", "checks", "db", "start"], cwd=ROOT, env=env, capture_output=True, check=True)
        try:
            warm = [timed(command, env) for _ in range(args.runs)]
        finally:
            if args.kept:
                subprocess.run([sys.executable, "-m", "checks", "db", "stop"], cwd=ROOT, env=env, capture_output=True, check=False)
    stages = ",".join(args.stage) or "all"
    print(f"python -m checks {' '.join(args.stage)} --target {args.target} (stages {stages}), {os.cpu_count()} cores")
    print(summary("cold", cold))
    print(summary("warm", warm) + (" (server kept running)" if args.kept else ""))


if __name__ == "__main__":
    main()
