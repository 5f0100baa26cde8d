"""Stages side by side: one forked process per stage folder, their results merged in order.

A run spends most of its time waiting, on the target's copy or on PostgreSQL, one check after
another. With several stages, each stage folder gets a process of its own, forked from this one
(the libraries are imported; no thread runs yet), that runs that stage's checks and reports each
check's start and end over a pipe. This process hears them as they come and merges the runs:
results in the order of the stages, the worst exit code, any reason to stop. Each child has a
process group of its own: Ctrl-C (or a SIGINT sent to this process) reaches this process, which
passes it on to every child once; each stops its checks and drops its databases, and the results
so far are kept.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
from collections.abc import Callable, Sequence
from dataclasses import fields

import pytest

from ..db.throwaway import drop_remaining
from ..registry import Stage
from ..results import CheckResult, Run

Listener = Callable[[CheckResult, int, int], None]
# (stages, on_start, on_result) -> the Run of those stages, in this process
RunHere = Callable[[Sequence[Stage], Listener, Listener], Run]
RESULT_FIELDS = {f.name for f in fields(CheckResult)}
# A worse outcome wins the merged exit code.
SEVERITY = [pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.USAGE_ERROR,
            pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.INTERRUPTED]


def by_folder(stages: Sequence[Stage]) -> list[list[Stage]]:
    """The stages grouped by their folder (hidden checks run with the stage they add to)."""
    groups: dict[str, list[Stage]] = {}
    for stage in stages:
        groups.setdefault(stage.folder, []).append(stage)
    return list(groups.values())


def _child(stages: Sequence[Stage], run_here: RunHere, pipe: int) -> None:
    """In the forked process: run, report every event as a JSON line, and leave without running
    the parent's exit handlers (the server and the parent's databases are the parent's)."""
    out = os.fdopen(pipe, "w", encoding="utf-8")

    def send(event: str, result: CheckResult | None = None, done: int = 0, total: int = 0, **more: object) -> None:
        out.write(json.dumps({"event": event, "result": result.as_dict() if result else None, "done": done, "total": total, **more}) + "\n")
        out.flush()

    code = 0
    try:
        run = run_here(stages, lambda r, d, t: send("start", r, d, t), lambda r, d, t: send("result", r, d, t))
        send("end", results=[r.as_dict() for r in run.results], exit_code=int(run.exit_code), output=run.output, aborted=run.aborted)
    except KeyboardInterrupt:
        send("end", results=[], exit_code=int(pytest.ExitCode.INTERRUPTED), output="", aborted="interrupted")
    except BaseException as exc:  # a bug of the checker's: the merged run says so
        send("end", results=[], exit_code=int(pytest.ExitCode.INTERNAL_ERROR), output="", aborted=f"{type(exc).__name__}: {exc}")
        code = 1
    finally:
        drop_remaining()  # what an interrupted set-up left (exit handlers do not run here)
        os._exit(code)


def _result(data: dict) -> CheckResult:
    return CheckResult(**{name: value for name, value in data.items() if name in RESULT_FIELDS})


def run_apart(groups: Sequence[Sequence[Stage]], run_here: RunHere, on_start: Listener | None, on_result: Listener | None) -> Run:
    """Run each group of stages in a forked process at the same time; one merged Run."""
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
                _child(group, run_here, write)
            os.close(write)
            children.append(pid)
            selector.register(read, selectors.EVENT_READ, (number, bytearray()))
            if interrupted:
                interrupt()
        while selector.get_map():
            for key, _ in selector.select():
                _read(key, selector, ends, progress, on_start, on_result)
        for pid in children:
            os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, previous)
    results, codes, outputs, aborted = [], [], [], ""
    for number in range(len(groups)):
        end = ends.get(number, {"results": [], "exit_code": int(pytest.ExitCode.INTERNAL_ERROR), "output": "", "aborted": "a checker process died"})
        results += [_result(data) for data in end["results"]]
        codes.append(pytest.ExitCode(end["exit_code"]))
        outputs.append(end["output"])
        aborted = aborted or end["aborted"]
    if interrupted:
        codes.append(pytest.ExitCode.INTERRUPTED)
    stages = tuple(stage for group in groups for stage in group)
    return Run(results, max(codes, key=SEVERITY.index), "".join(outputs), aborted, stages)


def _read(key: selectors.SelectorKey, selector: selectors.BaseSelector, ends: dict[int, dict], progress: dict[int, tuple[int, int]],
          on_start: Listener | None, on_result: Listener | None) -> None:
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
            continue
        progress[number] = (event["done"], event["total"])
        listener = on_start if event["event"] == "start" else on_result
        if listener is not None:
            listener(_result(event["result"]), sum(d for d, _ in progress.values()), sum(t for _, t in progress.values()))
