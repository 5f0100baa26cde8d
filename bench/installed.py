"""The environment the benchmarks run commands in: this one, as on a fresh install."""

from __future__ import annotations

import os

# Unset on a fresh install: the embedded server is used, and Python writes its bytecode caches (a
# machine that sets PYTHONDONTWRITEBYTECODE compiles the checks again on every run).
AS_INSTALLED = ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")


def fresh_environment() -> dict[str, str]:
    """This process's environment without the variables a fresh install does not have."""
    return {name: value for name, value in os.environ.items() if name not in AS_INSTALLED}
