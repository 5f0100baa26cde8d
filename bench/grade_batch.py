"""Grading a class, measured: N synthetic submissions, batch grading vs the naive way.

Builds N submissions in a temporary folder (copies of the solutions, of the starters, and of
broken variants), grades them with ``python -m checks grade``, and prints the total time, the
time per submission, and the ratio against the naive way: a fresh ``pytest`` process and a
fresh embedded PostgreSQL (a new data directory, initdb included) per submission, one after
the other. The naive way is timed on a small sample and extrapolated, as the output says.

    python bench/grade_batch.py [--n 100] [--naive-sample 3] [--jobs J] [--stage 01 ...] [--sandbox auto|require|off]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import fresh_environment

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("solution", "starter", "broken")


def build(folder: Path, n: int) -> list[Path]:
    """n submissions, cycling through solution, starter and a solution with a broken list_posts."""
    paths = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        student = folder / f"{kind}_{i:03d}"
        shutil.copytree(ROOT / ("labs" if kind == "starter" else "solutions"), student / "labs", ignore=shutil.ignore_patterns("__pycache__"))
        if kind == "broken":
            posts = student / "labs" / "01_psycopg2" / "posts.py"
            posts.write_text(posts.read_text().replace("ORDER BY id", "ORDER BY title DESC"))
        paths.append(student)
    return paths


def timed(command: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one run; a run that ends with another exit code stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        raise SystemExit(f"the run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def naive(submission: Path, stages: list[str], scratch: Path) -> float:
    """One fresh pytest process and one fresh embedded server (new data directory) for one student."""
    env = fresh_environment()
    env["SQL_LAB_CACHE_DIR"] = tempfile.mkdtemp(dir=scratch)  # initdb + start + stop, every time
    command = [sys.executable, "-m", "pytest", *[str(ROOT / "checks" / f"stage{s}") for s in stages]]
    command += ["--target", str(submission / "labs"), "-q", "-p", "no:cacheprovider", "-o", "addopts="]
    return timed(command, env, ok=(0, 1))  # 1: some checks failed, as a starter's do


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--naive-sample", type=int, default=3, help="submissions graded the naive way (default 3)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--stage", action="append", default=[], help="stages to grade (default: all)")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "require", "off"))
    args = parser.parse_args()
    stages = args.stage or ["01", "02", "03"]
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        folder = Path(tmp) / "submissions"
        submissions = build(folder, args.n)
        env = fresh_environment()
        command = [sys.executable, "-m", "checks", "grade", str(folder), "--jobs", str(args.jobs), "--out", str(Path(tmp) / "grades")]
        command += ["--sandbox", args.sandbox]
        command += [f"--stage={s}" for s in stages]
        total = timed(command, env)
        naive_times = [naive(s, stages, Path(tmp)) for s in submissions[: args.naive_sample]]
    per_submission = total / args.n
    print(f"batch:  {args.n} submissions x stages {','.join(stages)} in {total:.1f} s with --jobs {args.jobs}, --sandbox {args.sandbox}: {per_submission:.2f} s per submission")
    if not naive_times:  # --naive-sample 0: the batch alone
        return
    naive_each = statistics.median(naive_times)
    print(f"naive:  median {naive_each:.2f} s per submission over {len(naive_times)} (fresh pytest + fresh server each, sequential);")
    print(f"        extrapolated to {args.n}: {naive_each * args.n:.1f} s")
    print(f"ratio:  naive / batch = {naive_each * args.n / total:.2f}x")


if __name__ == "__main__":
    main()
