"""The psycopg2 connections the target opens, kept so that a check can see whether they were
closed (stage 01's ``api_closes_its_connections``). Runs in a check's copy, never in the checker.

``track()`` wraps ``psycopg2._connect``, what ``psycopg2.connect`` (and a psycopg2 pool) calls,
and keeps every connection opened from then on. Kept, a connection the target drops without
closing it stays open (otherwise CPython would close it as the last reference goes), so
``left_open(mark)`` counts the connections opened after ``opened()`` said ``mark`` that were
never closed. The checks call these through the subject (``subject.call``).
"""

from __future__ import annotations

from typing import Any

_opened: list[Any] = []


def track() -> None:
    import psycopg2

    if getattr(psycopg2._connect, "tracked_by_the_checks", False):
        return
    original = psycopg2._connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        conn = original(*args, **kwargs)
        _opened.append(conn)
        return conn

    connect.tracked_by_the_checks = True
    psycopg2._connect = connect


def opened() -> int:
    """How many connections were opened since ``track()``."""
    return len(_opened)


def left_open(mark: int) -> int:
    """How many of the connections opened after ``mark`` are still open."""
    return sum(1 for conn in _opened[mark:] if not conn.closed)
