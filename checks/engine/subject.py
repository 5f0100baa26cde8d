"""The checker's side of a subject: start it, fork a copy per check, ask, time out, kill.

A :class:`Subject` is one process (maybe inside a sandbox) that imported one stage of the
target; it never runs in the checker's process. For each check the checker asks it to fork a
:class:`Copy`, which starts from the pristine import. Every request to a copy runs against the
check's deadline: when it passes, the checker asks the copy for its stack (SIGUSR1, printed by
``faulthandler`` into the subject's log), says where the target's code was stuck, and kills the
copy; the next check gets a new one. Answers are JSON only; nothing the subject says is trusted
beyond being the target's answer to a question.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from ..subject.protocol import Channel, decode, encode, peer_pid
from . import tempdirs
from .processes import descends_from, kill_tree, watch
from .zygote import Launcher, Process, Zygote, plain_launcher, subject_env

IMPORT_TIMEOUT = 20.0
CONNECT_TIMEOUT = 10.0
# After this long in one request, look at the copy's stack once a second: a spot where an
# earlier check already hung (the same function, on any of its lines) ends this one at once
# instead of after the whole time limit.
SAMPLE_AFTER = 1.0
STACK_LINE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')
# The lines of a stack the checker asked for (SIGUSR1, faulthandler) in the log: not the target's own output.
STACK_DUMP_LINE = re.compile(r'(Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):|  File ".*", line \d+ in .*|  <no Python frame>|  \.\.\.')
PRINTED_LIMIT = 2000  # characters of what the target printed during one check that its result keeps


class SubjectFailure(Exception):
    """A check cannot get an answer from the target; the message is the one-line reason."""


class CheckTimedOut(SubjectFailure):
    """The check's time limit passed while the target's code was running."""


class StudentRaised(SubjectFailure):
    """The target's code raised; ``kinds`` names the exception's classes (``module.Name``)."""

    def __init__(self, message: str, kinds: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.kinds = tuple(kinds)

    def is_a(self, kind: str) -> bool:
        """Whether the exception is an instance of ``kind`` (``"psycopg2.Error"``, ``"ValueError"``)."""
        short = kind if "." in kind else f"builtins.{kind}"
        return short in self.kinds or any(k.endswith(f".{kind}") for k in self.kinds)


class ImportFailed(SubjectFailure):
    """A module of the target's stage did not import (a syntax error, a missing module...): the
    message says where. Not a :class:`StudentRaised`, so no check takes it for what the function
    it called did."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the copy (a connection, say), named by its number there."""

    number: int
    type: str = ""

    def __subject_json__(self) -> dict:
        return {"$handle": self.number}


@dataclass(frozen=True)
class Ref:
    """An attribute of the target's code, ``"module:attr.path"``, looked up in the copy."""

    target: str

    def __subject_json__(self) -> dict:
        return {"$ref": self.target}


@dataclass
class Response:
    """An HTTP answer of the target's app."""

    status_code: int
    headers: dict[str, str]
    text: str
    exception: dict | None = None

    @property
    def content(self) -> bytes:
        return self.text.encode()

    def json(self) -> Any:
        import json

        return json.loads(self.text)


def _function_of(spot: str) -> str:
    """``posts.py:77 in get_post`` without its line: a loop is sampled on any of its lines."""
    return re.sub(r":\d+ in ", " in ", spot)


def _from_wire(data: dict) -> Handle:
    return Handle(int(data["$handle"]), str(data.get("$type", "")))


def socket_folder(database_url: str) -> Path | None:
    """The folder of a unix-socket ``host`` in a database URL (the embedded server's), if any."""
    host = make_url(database_url).query.get("host")
    host = host[0] if isinstance(host, tuple) else host
    return Path(host) if host and host.startswith("/") else None


class SharedSpots:
    """The functions an earlier check hung in (``file in function``), shared by the processes of
    one run that grade the same stage side by side: a file each of them appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __bool__(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def __contains__(self, spot: str) -> bool:
        try:
            return json.dumps(spot) in self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return False

    def add(self, spot: str) -> None:
        with open(self.path, "a", encoding="utf-8") as file:  # one short line, appended whole
            file.write(json.dumps(spot) + "\n")


@dataclass
class Subject:
    """One stage of a target, imported once in a process of its own."""

    stage_dir: Path
    database_url: str
    modules: Sequence[str]
    launcher: Launcher = plain_launcher
    import_timeout: float = IMPORT_TIMEOUT
    display: str = ""  # the stage folder as the student knows it, to prefix locations with
    workroot: Path | None = None  # where the subject's folder is made (a sandboxed host's folder); default: the temp folder
    failure: str = ""  # why no check can run (the import hung or the process died)
    tables_after_import: frozenset[str] = frozenset()  # what importing the stage created (say, create_all at import)
    stuck_spots: set[str] | SharedSpots = field(default_factory=set)  # functions an earlier check hung in: ``file in function``
    _process: Process | None = None
    _zygote: psutil.Process | None = None  # the zygote, known by its start time too (it may not be our child)
    _workdir: Path | None = None
    _listener: socket.socket | None = None
    _control: Channel | None = None
    _deadline: float = 0.0
    import_errors: dict[str, str] = field(default_factory=dict)

    @property
    def log_file(self) -> Path:
        return self._workdir / "subject.log"

    def log_size(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:  # no log any more
            return 0

    def start(self) -> Subject:
        """Launch the subject and wait until it has imported the stage (or failed to)."""
        return self.launch().wait()

    def launch(self) -> Subject:
        """Start the subject's process; it imports the stage while the caller goes on."""
        self._workdir = tempdirs.make("subject", self.workroot)
        (self._workdir / "home").mkdir()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self._workdir / "checker.sock"))
        self._listener.listen(8)
        zygote = Zygote(self._workdir / "checker.sock", self.stage_dir, tuple(self.modules))
        log = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._process = self.launcher(zygote, subject_env(self._workdir / "home", self.database_url), self._workdir, log)
            self._zygote = watch(self._process.pid)
        except OSError as exc:
            self.failure = f"the target's process could not start ({exc})"
        finally:
            os.close(log)
        self._deadline = time.monotonic() + self.import_timeout
        return self

    def wait(self) -> Subject:
        """Wait (until the import's deadline) for the launched subject to report its import."""
        if self._control is not None or self.failure:
            return self
        zygote = None
        try:
            self._control, zygote = self._accept(self._deadline)
            ready = self._receive(self._control, self._deadline)
        except CheckTimedOut:
            spot = self.stack(zygote)
            self.failure = f"importing the stage did not finish in {self.import_timeout:g} s" + (f", stuck at {self.shown(spot)}" if spot else "")
            self.close()
            return self
        except SubjectFailure as exc:
            self.failure = str(exc)
            self.close()
            return self
        self.import_errors = {str(k): str(v) for k, v in dict(ready.get("errors") or {}).items()}
        return self

    def _accept(self, deadline: float) -> tuple[Channel, int | None]:
        self._listener.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock, _ = self._listener.accept()
        except TimeoutError:
            if self._process.poll() is not None:
                raise SubjectFailure(self.ended()) from None
            raise CheckTimedOut("no answer") from None
        pid = peer_pid(sock)
        channel = Channel(sock)
        hello = self._receive(channel, deadline)
        return channel, pid if pid is not None else int(hello.get("pid", 0))

    def _receive(self, channel: Channel, deadline: float) -> dict:
        """The next message, unless none came by ``deadline``: one already waiting is read even after
        it (a stage's checks may start long after its import ended, when earlier stages ran first)."""
        while True:
            remaining = deadline - time.monotonic()
            channel.sock.settimeout(max(0.01, remaining))
            try:
                message = channel.receive()
            except TimeoutError:
                if remaining <= 0:
                    raise CheckTimedOut("no answer") from None
                continue
            except (OSError, ValueError) as exc:
                raise SubjectFailure(f"the target's process broke the connection ({type(exc).__name__})") from None
            if message is None:
                raise SubjectFailure(self.ended())
            return message

    def fork(self, timeout: float) -> Copy:
        """A fresh copy of the imported stage for one check, with ``timeout`` seconds to finish."""
        deadline = time.monotonic() + timeout
        if self.failure:
            raise SubjectFailure(self.failure)
        try:
            self._control.send({"op": "fork"})
            channel, pid = self._accept(time.monotonic() + CONNECT_TIMEOUT)
        except (OSError, SubjectFailure) as exc:
            self.failure = f"the target's process stopped answering ({exc})"
            raise SubjectFailure(self.failure) from None
        return Copy(self, channel, pid, deadline, timeout)

    def owns(self, pid: int | None) -> bool:
        """Whether ``pid`` is a process of this subject (never signal anything else)."""
        return bool(pid) and self._zygote is not None and self._zygote.is_running() and descends_from(pid, self._zygote.pid)

    def stack(self, pid: int | None) -> str | None:
        """Where in the target's code ``pid`` is now: ``file:line in function``, innermost first."""
        zygote = self._zygote is not None and pid == self._zygote.pid and self._zygote.is_running()
        if pid is None or not (zygote or self.owns(pid)):
            return None
        start = self.log_size()
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            return None
        text, waited = "", 0.0
        while waited < 1.0:
            time.sleep(0.05)
            waited += 0.05
            with self.log_file.open("rb") as log:
                log.seek(start)
                text = log.read().decode("utf-8", "replace")
            if "File " in text and text.endswith("\n"):
                time.sleep(0.05)  # every thread's stack is written in one go; let it finish
                break
        stage = str(self.stage_dir.resolve()) + os.sep
        for line in text.splitlines():
            match = STACK_LINE.match(line)
            if match and match["file"].startswith(stage):
                return f"{match['file'].removeprefix(stage)}:{match['line']} in {match['function']}"
        return None

    def shown(self, location: str) -> str:
        """A location relative to the stage folder (``posts.py:26 in f``) as the student finds it."""
        return f"{self.display}/{location}" if self.display else location

    def ended(self) -> str:
        """Why the subject stopped answering: its exit code and the last line it printed."""
        try:
            code = self._process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        said = f"ended (exit code {code})" if code is not None else "closed its connection"
        return f"the target's process {said} {self._log_tail()}".strip()

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f"({lines[-1][:200]})" if lines else ""

    def close(self) -> None:
        """Kill the subject and everything it started; remove its folder."""
        if self._process is not None:
            kill_tree(self._zygote)
            self._process.wait()
        for channel in (self._control,):
            if channel is not None:
                channel.close()
        if self._listener is not None:
            self._listener.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._control = self._listener = None


class Copy:
    """One check's copy of the target: requests, each answered before the check's deadline."""

    def __init__(self, subject: Subject, channel: Channel, pid: int | None, deadline: float, timeout: float) -> None:
        self.subject = subject
        self.channel = channel
        self.pid = pid
        self.deadline = deadline
        self.timeout = timeout
        self.log_start = subject.log_size()  # copies run one at a time: what the log gains is this one's

    @property
    def tables_after_import(self) -> frozenset[str]:
        """The tables importing the stage created (``create_all`` at import time, say)."""
        return self.subject.tables_after_import

    def request(self, op: str, **fields: Any) -> Any:
        """Send one request and decode the answer, or raise a :class:`SubjectFailure`."""
        started = time.monotonic()
        try:
            self.channel.send({"op": op, **{key: encode(value) for key, value in fields.items()}})
        except OSError:
            raise SubjectFailure(self.subject.ended()) from None
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                self._timed_out(f"took longer than {self.timeout:g} s and was stopped")
            if now - started >= SAMPLE_AFTER and self.subject.stuck_spots:
                spot = self.subject.stack(self.pid)
                if spot and _function_of(spot) in self.subject.stuck_spots:
                    self._timed_out("was stopped: it hung in the same function as an earlier check", spot)
            # Look again after SAMPLE_AFTER, then every second: a check running side by side may find a hang meanwhile.
            until = started + SAMPLE_AFTER if now - started < SAMPLE_AFTER else now + 1.0
            try:
                answer = self.subject._receive(self.channel, min(self.deadline, until))
                break
            except CheckTimedOut:
                continue
        try:
            if "error" in answer:
                raise self._error(dict(answer["error"]))
            return decode(answer["ok"], lambda data: _from_wire(data) if "$handle" in data else data)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SubjectFailure(f"the target's process gave an answer the checks cannot read to {op!r}") from None

    def _timed_out(self, message: str, spot: str | None = None) -> None:
        spot = spot or self.subject.stack(self.pid)
        if spot:
            self.subject.stuck_spots.add(_function_of(spot))
            message += f" (stuck at {self.subject.shown(spot)}: an endless loop, or waiting on something that never comes?)"
        else:
            message += " (an endless loop, or waiting on something that never comes?)"
        self.close()
        raise CheckTimedOut(message)

    def _error(self, error: dict) -> SubjectFailure:
        message, where = str(error.get("message", "failed")), error.get("where")
        text = f"{self.subject.shown(where)}: {message}" if where else message
        if error.get("import"):
            return ImportFailed(self.subject.shown(message))
        if error.get("harness"):
            return SubjectFailure(f"the checks could not ask the target: {text}")
        return StudentRaised(text, error.get("kinds") or ())

    # -- the requests the checks use ---------------------------------------------------------
    def call(self, target: str | Handle, *args: Any, **kwargs: Any) -> Any:
        return self.request("call", target=target, args=list(args), kwargs=kwargs)

    def get(self, target: str) -> Any:
        return self.request("get", target=target)

    def set(self, target: str, value: Any) -> None:
        """Set an attribute of the target's code in this copy (``"module:attr.path"``)."""
        self.request("set", target=target, value=value)

    def connect(self) -> Handle:
        """A plain psycopg2 connection to the check's database, made in the copy."""
        return self.request("connect")

    def sql(self, connection: Handle, query: str, params: Sequence | None = None) -> list | None:
        return self.request("sql", handle=connection.number, sql=query, params=list(params) if params else None)

    def alembic(self, action: str, revision: str | None = None) -> Any:
        return self.request("alembic", action=action, revision=revision)

    def app(self, module: str, action: str) -> None:
        self.request("app", module=module, action=action)

    def http(self, module: str, method: str, url: str, **body: Any) -> Response:
        return Response(**self.request("http", module=module, method=method, url=url, **body))

    def another(self) -> Copy:
        """One more fresh copy of the same import, with what remains of this check's time: a
        process of its own, as a second worker of a server would be. Several copies may answer
        at the same time (from threads of the checker, one each); one copy answers in turn."""
        return self.subject.fork(max(0.1, self.deadline - time.monotonic()))

    def client(self, module: str, *, raise_server_exceptions: bool = True) -> AppClient:
        return AppClient(self, module, raise_server_exceptions)

    def printed(self) -> str:
        """What the target's code printed (stdout and stderr) during this check, without the stacks
        the checker asked for; at most ``PRINTED_LIMIT`` characters."""
        try:
            with self.subject.log_file.open("rb") as log:
                log.seek(self.log_start)
                text = log.read(PRINTED_LIMIT * 4).decode("utf-8", "replace")
        except OSError:
            return ""
        text = "\n".join(line for line in text.splitlines() if not STACK_DUMP_LINE.fullmatch(line)).strip()
        return text if len(text) <= PRINTED_LIMIT else text[:PRINTED_LIMIT] + "…"

    def close(self) -> None:
        self.channel.close()
        if self.subject.owns(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class AppClient:
    """The target's app in a copy, used like Starlette's TestClient: an exception in the app
    fails the check with the target's line, unless ``raise_server_exceptions`` is off (then
    it is the 500 a real server would answer)."""

    copy: Copy
    module: str
    raise_server_exceptions: bool = True

    def request(self, method: str, url: str, **body: Any) -> Response:
        response = self.copy.http(self.module, method, url, **body)
        if response.exception and self.raise_server_exceptions:
            where, message = response.exception.get("where"), response.exception.get("message", "")
            raise StudentRaised(f"{self.copy.subject.shown(where)}: {message}" if where else message)
        return response

    def get(self, url: str, **body: Any) -> Response:
        return self.request("GET", url, **body)

    def post(self, url: str, **body: Any) -> Response:
        return self.request("POST", url, **body)

    def put(self, url: str, **body: Any) -> Response:
        return self.request("PUT", url, **body)

    def delete(self, url: str, **body: Any) -> Response:
        return self.request("DELETE", url, **body)
