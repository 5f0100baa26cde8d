"""Loads the checks' pytest plugin for every pytest run in the workbook (checks, tests, notebooks).

The workbook's suite runs in parallel (pytest-xdist, ``-n auto`` in pyproject.toml): each worker
but the first gets an embedded server of its own (a cache folder of its own), so that workers
never see each other's databases, roles or processes on one server. A run of the checks alone
(``pytest checks --target ...``) stays in one process.
"""

import os

import pytest

MAX_WORKERS = 2  # 2 cores measured: 2 workers 360 s, 4 workers 386 s, serial 468 s

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
if _worker != "gw0":
    from platformdirs import user_cache_dir

    _base = os.environ.get("SQL_LAB_CACHE_DIR") or user_cache_dir("sql-lab-workbook")
    if not _base.endswith(f"-{_worker}"):  # a pytest that a worker's test runs inherits the worker's
        os.environ["SQL_LAB_CACHE_DIR"] = f"{_base}-{_worker}"

pytest_plugins = ["checks.plugin"]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: up to ``MAX_WORKERS``; none inside a worker's own pytest, when a
    ``DATABASE_URL`` names the one server every worker would share, or for a run of the checks
    alone (``pytest checks --target ...`` grades in one process, as ``python -m checks`` does).
    An explicit ``-n 2`` never asks this hook."""
    from checks.db.server import configured_url
    from checks.plugin import names_only_checks

    if "PYTEST_XDIST_WORKER" in os.environ or configured_url()[0] or names_only_checks(config):
        return 0
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))
