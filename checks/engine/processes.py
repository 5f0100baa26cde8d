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


def watch(pid: int | None) -> psutil.Process | None:
    """The process that ``pid`` names now (None if there is none), known by its start time too:
    once it has ended, :func:`kill_tree` and ``is_running`` never mistake another process that
    reuses its pid for it (pids come round again fast: 32768 of them on many Linux systems)."""
    if pid is None:
        return None
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def kill_tree(process: psutil.Process | int | None) -> None:
    """Kill a process, its process group and every descendant it still has (None: nothing).

    ``process`` is the pid of a child of this process that was not waited for yet (so the pid is
    still that child's), or what :func:`watch` returned: then nothing is killed once it has ended."""
    if isinstance(process, psutil.Process):
        if not process.is_running():  # it ended: its pid may be another process's by now
            return
        process = process.pid
    pid = process
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
