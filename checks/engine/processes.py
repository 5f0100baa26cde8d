"""Ending processes the checker started, and everything they started in turn."""

from __future__ import annotations

import os
import signal

import psutil


def descends_from(pid: int, ancestor: int | None) -> bool:
    """Whether ``pid`` is a descendant of ``ancestor`` (the chain of parents is walked up to it)."""
    if ancestor is None:
        return False
    try:
        for _ in range(64):
            pid = psutil.Process(pid).ppid()
            if pid == ancestor:
                return True
            if pid <= 1:
                return False
    except psutil.Error:
        pass
    return False


def kill_tree(pid: int | None) -> None:
    """Kill a process, its process group and every descendant it still has (None: nothing)."""
    if pid is None or pid <= 0:
        return
    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        family = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for process in family:
        try:
            process.kill()
        except psutil.Error:
            pass
