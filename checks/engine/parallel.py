"""Checks side by side: once collected, each stage folder's checks run in a forked process.

A run spends most of its time waiting, on the target's copy or on PostgreSQL, one check after
another. Pytest collects every check once in this process; then :class:`StagesApart` forks one
process per stage folder, and with a single folder (a student working on one stage) deals its
checks out to two processes (the checks are collected and the libraries imported; no fixture
has run and no thread is started yet). Each process starts its own subject and database for
its folder, runs its checks through pytest's own run-test protocol and reports each check's
start and end over a pipe. This process hears them as they come and merges them into its
collector: results in registry order, the failures counted, any reason to stop raised here as
pytest would have. Each child has a process group of its own: Ctrl-C (or a SIGINT sent to this
process) reaches this process, which passes it on to every child once; each stops its checks
and drops its databases, and the results so far are kept.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
from collections.abc import Sequence
from dataclasses import fields

import pytest

from ..db.throwaway import drop_remaining
from ..results import CheckResult
from . import tempdirs
from .collector import STAGE, ResultCollector
from .subject import SharedSpots

RESULT_FIELDS = {f.name for f in fields(CheckResult)}
DIED = "a checker process died"
# Where the processes of a run note the functions a check hung in, for the later checks of all of them.
STUCK_SPOTS = pytest.StashKey[SharedSpots]()


# One stage folder's checks are dealt out to this many processes, each with a subject and a
# database (bench/student_run.py --stage, warm, 2 cores: 01 1.66 → 1.47 s, 02 2.27 → 1.72 s, 03 1.83 → 1.47 s).
SHARDS = 2


def by_folder(items: Sequence[pytest.Item]) -> list[list[pytest.Item]]:
    """The checks grouped by their stage folder (hidden checks run with the stage they add to).
    A single folder of ``2 * SHARDS`` checks or more is dealt out, in turn, to ``SHARDS`` groups
    when the machine has more than one core."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        stage = item.stash.get(STAGE, None)
        groups.setdefault(stage.folder if stage else "", []).append(item)
    found = list(groups.values())
    if len(found) == 1 and len(found[0]) >= 2 * SHARDS and (os.cpu_count() or 1) > 1:
        return [found[0][shard::SHARDS] for shard in range(SHARDS)]
    return found


class StagesApart:
    """A pytest plugin: the collected checks of each stage folder (or each share of a single
    folder's) run in a process of their own, at the same time; this process takes in their results."""

    def __init__(self, collector: ResultCollector) -> None:
        self.collector = collector

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        groups = by_folder(session.items)
        if len(groups) < 2 or session.testsfailed or session.config.option.collectonly:
            return None  # pytest's own loop: a few checks, nothing to run, or collection errors to report
        folder = tempdirs.make("exchange")
        session.config.stash[STUCK_SPOTS] = SharedSpots(folder / "stuck-spots")  # one hang costs one time limit
        try:
            ends = _run_children(session, groups, self.collector)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        stopped = [end for end in ends if end.get("stopped")]
        session.testsfailed += sum(int(end.get("failed", 0)) for end in ends)
        if any(end.get("stopped") == "interrupted" for end in stopped):
            raise KeyboardInterrupt
        if stopped:
            pytest.exit(stopped[0]["stopped"], returncode=int(stopped[0].get("exit_code", pytest.ExitCode.INTERNAL_ERROR)))
        return True


def _run_children(session: pytest.Session, groups: Sequence[Sequence[pytest.Item]], collector: ResultCollector) -> list[dict]:
    """Fork a process per group, hear them all out; the end each one reported, in group order."""
    selector = selectors.DefaultSelector()
    children: list[int] = []
    signalled: set[int] = set()
    ends: dict[int, dict] = {}
    progress: dict[int, tuple[int, int]] = {}  # per group: (done, total)
    interrupted = False

    def interrupt(*_: object) -> None:
        nonlocal interrupted
        interrupted = True
        for pid in children:
            if pid not in signalled:  # once each: a second SIGINT could cut a child's clean-up short
                signalled.add(pid)
                os.kill(pid, signal.SIGINT)

    # Here Ctrl-C only passes the word on: this process keeps listening until every child is done.
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        for number, group in enumerate(groups):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                os.close(read)
                os.setpgid(0, 0)  # Ctrl-C at the terminal reaches the parent only, which passes it on
                _child(session, group, collector, write)
            os.close(write)
            children.append(pid)
            selector.register(read, selectors.EVENT_READ, (number, bytearray()))
            if interrupted:
                interrupt()
        while selector.get_map():
            for key, _ in selector.select():
                _read(key, selector, ends, progress, collector)
        for pid in children:
            os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, previous)
    result = [ends.get(number, {"stopped": DIED, "exit_code": int(pytest.ExitCode.INTERNAL_ERROR)}) for number in range(len(groups))]
    if interrupted:
        result.append({"stopped": "interrupted"})
    return result


def _child(session: pytest.Session, items: Sequence[pytest.Item], collector: ResultCollector, pipe: int) -> None:
    """In the forked process: run the group's checks, report every event as a JSON line, and
    leave without running the parent's exit handlers (the server is the parent's)."""
    out = os.fdopen(pipe, "w", encoding="utf-8")

    def send(event: str, result: CheckResult | None = None, done: int = 0, total: int = 0, **more: object) -> None:
        out.write(json.dumps({"event": event, "result": result.as_dict() if result else None, "done": done, "total": total, **more}) + "\n")
        out.flush()

    collector.results = {item.nodeid: collector.results[item.nodeid] for item in items if item.nodeid in collector.results}
    collector.on_start = lambda r, d, t: send("start", r, d, t)
    collector.on_result = lambda r, d, t: send("result", r, d, t)
    session.items = list(items)  # what this process runs (the stage fixtures start only these folders, anew)
    stopped, exit_code, code = "", pytest.ExitCode.OK, 0
    try:
        try:
            for number, item in enumerate(items):
                nextitem = items[number + 1] if number + 1 < len(items) else None
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                if session.shouldfail or session.shouldstop:
                    break
        except KeyboardInterrupt:
            stopped, exit_code = "interrupted", pytest.ExitCode.INTERRUPTED
        except pytest.exit.Exception as exc:
            stopped, exit_code = exc.msg or "stopped", pytest.ExitCode(exc.returncode if exc.returncode is not None else 2)
        finally:  # session fixtures end here (the stage's subject and database), as at a session's end
            session.config.hook.pytest_sessionfinish(session=session, exitstatus=exit_code)
    except BaseException as exc:  # a bug of the checker's: the merged run says so
        stopped = stopped or f"{type(exc).__name__}: {exc}"
        exit_code, code = pytest.ExitCode.INTERNAL_ERROR, 1
    finally:
        try:
            results = {nodeid: result.as_dict() for nodeid, result in collector.results.items()}
            send("end", results=results, failed=session.testsfailed, stopped=stopped, exit_code=int(exit_code))
        finally:
            drop_remaining()  # what an interrupted set-up left (exit handlers do not run here)
            os._exit(code)


def _result(data: dict) -> CheckResult:
    return CheckResult(**{name: value for name, value in data.items() if name in RESULT_FIELDS})


def _read(key: selectors.SelectorKey, selector: selectors.BaseSelector, ends: dict[int, dict],
          progress: dict[int, tuple[int, int]], collector: ResultCollector) -> None:
    """Take in what one child wrote: its events, passed on as they come, and its end."""
    number, buffer = key.data
    chunk = os.read(key.fd, 65536)
    if not chunk:
        selector.unregister(key.fd)
        os.close(key.fd)
        return
    buffer.extend(chunk)
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        event = json.loads(line)
        if event["event"] == "end":
            ends[number] = event
            for nodeid, data in event["results"].items():
                if nodeid in collector.results:
                    collector.results[nodeid] = _result(data)
            continue
        progress[number] = (event["done"], event["total"])
        listener = collector.on_start if event["event"] == "start" else collector.on_result
        if listener is not None:
            listener(_result(event["result"]), sum(d for d, _ in progress.values()), sum(t for _, t in progress.values()))
