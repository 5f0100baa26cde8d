"""Ending processes the checker started, and everything they started in turn."""

from __future__ import annotations

import os
import signal

import psutil


def kill_tree(pid: int) -> None:
    """Kill a process, its process group and every descendant it still has."""
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
