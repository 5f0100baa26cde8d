"""Connection pooling, measured: the same requests through the stage 02 app with and without a pool.

Runs the reference solution's app in-process (FastAPI's TestClient) against a throwaway
database, first with SQLAlchemy's default QueuePool, then with NullPool (a new connection for
every request), and prints per-request medians, the 10th-90th percentile spread, and the ratio.

    python bench/pool.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from checks.db.notebook import lab_database  # noqa: E402
from checks.errors import EXIT_SETUP, SetupError  # noqa: E402
from checks.subject.loader import import_from_stage, stage_imports  # noqa: E402

STAGE = ROOT / "solutions" / "02_orm_crud"


def time_requests(client: TestClient, user_id: int, count: int) -> list[float]:
    """Milliseconds per GET /users/{id}, each request on its own."""
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(f"/users/{user_id}")
        timings.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return timings


def measure(requests: int, rounds: int) -> dict[str, list[float]]:
    """Per-request timings for each pool, alternating pools round by round."""
    db = lab_database("bench")
    results: dict[str, list[float]] = {"QueuePool": [], "NullPool": []}
    with stage_imports(STAGE):
        main = import_from_stage("app.main", STAGE)
        database = import_from_stage("app.database", STAGE)
        engines = {"QueuePool": database.engine, "NullPool": create_engine(db.url, poolclass=NullPool)}
        with TestClient(main.app) as client:
            user_id = client.post("/users", json={"email": "bench@example.com", "username": "bench"}).json()["id"]
            for _ in range(rounds):
                for name, engine in engines.items():
                    database.SessionLocal.configure(bind=engine)
                    time_requests(client, user_id, 20)  # warm-up: fill the pool, JIT-free but cache-warm
                    results[name] += time_requests(client, user_id, requests // rounds)
        for engine in engines.values():
            engine.dispose()
    db.drop()
    return results


def summary(timings: list[float]) -> str:
    deciles = statistics.quantiles(timings, n=10)
    return f"median {statistics.median(timings):6.2f} ms   p10 {deciles[0]:6.2f}   p90 {deciles[-1]:6.2f}   (n={len(timings)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per pool (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternate the pools this many times (default 5)")
    args = parser.parse_args()
    try:
        results = measure(args.requests, args.rounds)
    except SetupError as exc:
        print(f"bench/pool.py: no database to measure on: {exc}", file=sys.stderr)
        sys.exit(EXIT_SETUP)
    for name, timings in results.items():
        print(f"{name:9}  {summary(timings)}")
    ratio = statistics.median(results["NullPool"]) / statistics.median(results["QueuePool"])
    print(f"ratio      NullPool / QueuePool median = {ratio:.2f}x")


if __name__ == "__main__":
    main()
