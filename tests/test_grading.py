"""Grading a class: isolated, hostile submissions cost only their own points, exports are complete."""

import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from checks.db.server import connection_room
from checks.engine import batch
from checks.engine.batch import private_copy, scrub
from checks.engine.tempdirs import STALE
from checks.registry import REPO_ROOT, find_stage

FULL = find_stage("01").max_points
STAGE = "01_psycopg2"
POSTS = f"{STAGE}/posts.py"
PRINTED_MARKER = "printed-by-the-student-9f3c"  # what the student shows themselves; never an export

CONFTEST_THAT_PASSES_EVERYTHING = '''
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''
FAKE_CLI = 'import json, sys\nprint(json.dumps({"results": []}))\nraise SystemExit(0)\n'
PYTEST_SETTINGS = {
    "pytest.ini": "[pytest]\naddopts = -p no:checks.plugin -x\n",
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-p no:checks.plugin'\n",
    "setup.cfg": "[tool:pytest]\naddopts = -p no:checks.plugin\n",
    "tox.ini": "[pytest]\naddopts = -p no:checks.plugin\n",
}
VANDAL = '''
import os, psycopg2
from sqlalchemy.engine import make_url
_url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql", database="postgres")
try:
    _conn = psycopg2.connect(_url.render_as_string(hide_password=False)); _conn.autocommit = True
    with _conn.cursor() as _cur:
        _cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'labtmp%' AND pg_get_userbyid(datdba) <> current_user")
        for (_name,) in _cur.fetchall():
            try:
                _cur.execute(f'DROP DATABASE "{_name}" WITH (FORCE)')
            except psycopg2.Error:
                pass
except psycopg2.Error:
    pass
'''


def _solution_with(prefix="", replace=()):
    text = (REPO_ROOT / "solutions" / POSTS).read_text()
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    future = "from __future__ import annotations\n"
    return text.replace(future, future + prefix, 1)


def build_class(root, starter):
    """~20 students: the expected stage 01 points and status of each."""
    def bare(name, base=REPO_ROOT / "solutions", files=None):
        folder = root / name
        shutil.copytree(base / STAGE, folder / STAGE, ignore=shutil.ignore_patterns("__pycache__"))
        for relative, text in (files or {}).items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        return folder

    expected = {}
    for n in range(3):
        bare(f"solution_{n}")
        expected[f"solution_{n}"] = (FULL, "ok")
        bare(f"starter_{n}", starter)
        expected[f"starter_{n}"] = (0, "ok")
    repo_copy = root / "repo_copy"
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, repo_copy / "labs" / STAGE)
    (repo_copy / "README.md").write_text("my fork")
    expected["repo_copy"] = (FULL, "ok")
    (root / "nothing_here").mkdir()
    (root / "nothing_here" / "notes.txt").write_text("I did not do it")
    expected["nothing_here"] = (0, "no gradable work found")
    list_hangs = _solution_with(replace=[('    """All posts, oldest first."""\n', '    """All posts, oldest first."""\n    while True:\n        pass\n')])
    bare("hangs_in_list_posts", files={POSTS: list_hangs})
    expected["hangs_in_list_posts"] = (FULL - 4, "ok")  # list_posts and GET /posts
    bare("sleeps_at_import", files={POSTS: _solution_with("import time\ntime.sleep(3600)\n")})
    expected["sleeps_at_import"] = (0, "ok")  # the import's time limit fails its checks; the batch goes on
    bare("os_exit_at_import", files={POSTS: _solution_with("import os\nos._exit(3)\n")})
    expected["os_exit_at_import"] = (0, "ok")  # the student's process crashed, not the checker
    bare("segfault_at_import", files={POSTS: _solution_with("import ctypes\nctypes.string_at(0)\n")})
    expected["segfault_at_import"] = (0, "ok")
    bare("sys_exit_at_import", files={POSTS: _solution_with("import sys\nsys.exit(0)\n")})
    expected["sys_exit_at_import"] = (0, "ok")
    venv = bare("virtualenv_in_its_stage_folder") / STAGE / ".venv"  # made where the README is read, a common slip
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for n in range(60):  # 60 MB of libraries: more than a submission may bring, were it copied
        with (venv / "lib" / f"lib{n}.so").open("wb") as handle:
            handle.truncate(2**20)
    expected["virtualenv_in_its_stage_folder"] = (FULL, "ok")
    bare("prints_megabytes", files={POSTS: _solution_with("print('x' * 5_000_000)\n")})
    expected["prints_megabytes"] = (FULL, "ok")
    prints = _solution_with(replace=[("    try:\n        with conn.cursor(cursor_factory=RealDictCursor) as cur:",
                                      f"    print({PRINTED_MARKER!r}, query)\n    try:\n        with conn.cursor(cursor_factory=RealDictCursor) as cur:")])
    bare("prints_in_every_query", files={POSTS: prints})
    expected["prints_in_every_query"] = (FULL, "ok")
    bare("drops_other_databases", files={POSTS: _solution_with(VANDAL)})
    expected["drops_other_databases"] = (FULL, "ok")
    drops_table = _solution_with(replace=[('    return bool(_run(conn, "DELETE FROM posts WHERE id = %s RETURNING id", (post_id,)))',
                                           '    _run(conn, "DROP TABLE posts")\n    return True')])
    bare("drops_its_table", files={POSTS: drops_table})
    expected["drops_its_table"] = (FULL - 4, "ok")  # delete_post and DELETE /posts
    tamper = root / "tamper_conftest"
    bare("tamper_conftest", starter, files={"conftest.py": CONFTEST_THAT_PASSES_EVERYTHING, f"{STAGE}/conftest.py": CONFTEST_THAT_PASSES_EVERYTHING})
    (tamper.parent / "tamper_conftest" / "tests").mkdir()
    (tamper / "tests" / "conftest.py").write_text(CONFTEST_THAT_PASSES_EVERYTHING)
    expected["tamper_conftest"] = (0, "ok")
    bare("tamper_checks_package", starter, files={"checks/__init__.py": "", "checks/__main__.py": FAKE_CLI, "checks/cli.py": FAKE_CLI,
                                                  f"{STAGE}/checks/__init__.py": "", f"{STAGE}/checks/cli.py": FAKE_CLI})
    expected["tamper_checks_package"] = (0, "ok")
    bare("tamper_startup_files", starter, files={f"{STAGE}/sitecustomize.py": CONFTEST_THAT_PASSES_EVERYTHING, "sitecustomize.py": "raise SystemExit(0)\n",
                                                 f"{STAGE}/usercustomize.py": "raise SystemExit(0)\n", f"{STAGE}/evil.pth": "import os; os._exit(0)\n"})
    expected["tamper_startup_files"] = (0, "ok")
    bare("tamper_pytest_settings", starter, files={**PYTEST_SETTINGS, **{f"{STAGE}/{k}": v for k, v in PYTEST_SETTINGS.items()}})
    expected["tamper_pytest_settings"] = (0, "ok")
    return expected


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, run_cli, starter):
    root = tmp_path_factory.mktemp("class")
    submissions, out = root / "submissions", root / "grades"
    submissions.mkdir()
    expected = build_class(submissions, starter)
    proc = run_cli("grade", str(submissions), "--stage", "01", "--timeout", "5", "--wall", "45", "--out", str(out), timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return expected, out, proc


def test_a_class_of_twenty_grades_to_the_expected_points(graded_class):
    expected, out, _ = graded_class
    assert len(expected) >= 20
    with (out / "grades.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    got = {student: (int(row["stage_01"]), row["status"]) for student, row in rows.items()}
    assert got == expected


def test_results_json_has_gradescopes_fields(graded_class):
    expected, out, _ = graded_class
    for student in expected:
        data = json.loads((out / student / "results.json").read_text())
        assert {"score", "execution_time", "tests"} <= set(data)
        assert data["score"] == expected[student][0]
        assert len(data["tests"]) == len(find_stage("01").checks)
        for test in data["tests"]:
            assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
            assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"


def test_junit_has_one_testcase_per_check(graded_class):
    _, out, _ = graded_class
    suite = ET.parse(out / "starter_0" / "junit.xml").getroot()
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(find_stage("01").checks)
    assert len(suite.findall("testcase/failure")) == len(find_stage("01").checks)


def test_failures_say_why(graded_class):
    _, out, _ = graded_class
    hang = json.loads((out / "hangs_in_list_posts" / "results.json").read_text())
    assert any("took longer than 5" in t["output"] and "posts.py" in t["output"] and "in list_posts" in t["output"] for t in hang["tests"])
    crashed = json.loads((out / "os_exit_at_import" / "results.json").read_text())
    assert "exit code 3" in crashed["tests"][0]["output"]
    sleeps = json.loads((out / "sleeps_at_import" / "results.json").read_text())
    assert all("importing the stage did not finish in 5 s, stuck at" in t["output"] for t in sleeps["tests"])


def test_what_the_code_printed_stays_out_of_every_export(graded_class, run_cli):
    """A student's run shows what their code printed; grading keeps only statuses and reasons."""
    _, out, proc = graded_class
    shown = run_cli("01", "--target", str(out.parent / "submissions" / "prints_in_every_query"), "--json")
    assert any(PRINTED_MARKER in result["printed"] for result in json.loads(shown.stdout)["results"]), "the student's own run shows it"
    exports = [path for path in out.rglob("*") if path.is_file()]
    assert (out / "prints_in_every_query" / "results.json").exists()
    assert [str(path) for path in exports if PRINTED_MARKER in path.read_text(errors="replace")] == []
    assert PRINTED_MARKER not in proc.stdout + proc.stderr


def test_extra_checks_are_reported_separately(tmp_path, run_cli):
    extra = tmp_path / "hidden" / "stage01"
    extra.mkdir(parents=True)
    (extra / "__init__.py").write_text("")
    (extra / "stage.toml").write_text(
        'id = "01"\ntitle = "Hidden"\nfolder = "01_psycopg2"\n\n[[checks]]\nid = "hidden_title_survives_unicode"\n'
        'title = "a unicode title round-trips"\npoints = 4\nhint = "README step 4"\n'
    )
    (extra / "test_hidden.py").write_text(
        "def test_hidden_title_survives_unicode(subject):\n"
        "    conn = subject.call('posts:connect')\n    subject.call('posts:create_table', conn)\n"
        "    assert subject.call('posts:create_post', conn, 'Ünïcode 🐘', 'x')['title'] == 'Ünïcode 🐘'\n"
    )
    submissions = tmp_path / "subs"
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / "ada" / STAGE)
    out = tmp_path / "grades"
    proc = run_cli("grade", str(submissions), "--stage", "01", "--extra-checks", str(tmp_path / "hidden"), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row,) = csv.DictReader((out / "grades.csv").open())
    assert (row["stage_01"], row["stage_01_hidden"], row["total"]) == (str(FULL), "4", str(FULL + 4))
    tests = json.loads((out / "ada" / "results.json").read_text())["tests"]
    assert [t["visibility"] for t in tests].count("after_published") == 1


def test_a_slow_first_stage_costs_the_later_stages_nothing(tmp_path, run_cli):
    """A class is checked stage after stage; every stage's import starts at once. Stage 01 here
    outlasts the import time limit (its hanging checks take their --timeout each): stages 02 and
    03, imported long before, are still checked in full."""
    student = tmp_path / "subs" / "ada" / "labs"
    shutil.copytree(REPO_ROOT / "solutions", student, ignore=shutil.ignore_patterns("__pycache__"))
    hangs = _solution_with(replace=[('    """All posts, oldest first."""\n', '    """All posts, oldest first."""\n    while True:\n        pass\n')])
    (student / POSTS).write_text(hangs)
    proc = run_cli("grade", str(tmp_path / "subs"), "--timeout", "2", "--out", str(tmp_path / "grades"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row,) = csv.DictReader((tmp_path / "grades" / "grades.csv").open())
    assert (row["stage_01"], row["stage_02"], row["stage_03"]) == (str(FULL - 4), str(find_stage("02").max_points), str(find_stage("03").max_points)), proc.stdout


def test_a_server_without_room_for_the_jobs_grades_fewer_at_once(tmp_path, run_cli, lab_server):
    """With room left for one student's sessions, not two, ``--jobs 2`` grades one at a time and
    says so; side by side, PostgreSQL's "too many clients" would cost correct work points."""
    for name in ("ada", "bob"):
        shutil.copytree(REPO_ROOT / "solutions", tmp_path / "subs" / name / "labs", ignore=shutil.ignore_patterns("__pycache__"))
    held = [lab_server.admin_connect() for _ in range(connection_room(lab_server) - 20)]  # one student's checks hold ~15
    try:
        proc = run_cli("grade", str(tmp_path / "subs"), "--jobs", "2", "--out", str(tmp_path / "grades"))
    finally:
        for conn in held:
            conn.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "note: grading 1 at a time, not 2: the server has room for" in proc.stderr
    rows = list(csv.DictReader((tmp_path / "grades" / "grades.csv").open()))
    assert [(row["student"], row["total"] == row["max_total"]) for row in rows] == [("ada", True), ("bob", True)], proc.stdout


WHERE_IT_RUNS = (
    "from pathlib import Path as _Path\n"
    "SCHEMA = open('schema.sql').read()  # a relative path: the stage folder, as under uvicorn there\n"
    "_Path('notes.txt').write_text('written where the code runs')\n"
    "(_Path.home() / '.cache' / 'posts-app').mkdir(parents=True, exist_ok=True)\n"
)


@pytest.mark.parametrize("mode", ["own run", "off", pytest.param("require", marks=pytest.mark.sandbox)])
def test_code_runs_in_its_stage_folder_with_a_home_it_may_write_in_every_mode(tmp_path, run_cli, mode):
    """A student's run and grading, sandboxed or not, agree: relative paths mean the stage folder
    and the home folder is writable."""
    student = tmp_path / "class" / "ada"
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, student / STAGE, ignore=shutil.ignore_patterns("__pycache__"))
    (student / POSTS).write_text(_solution_with(WHERE_IT_RUNS))
    (student / STAGE / "schema.sql").write_text("-- the posts table\n")
    if mode == "own run":
        proc = run_cli(STAGE.split("_")[0], "--target", str(student))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    proc = run_cli("grade", str(tmp_path / "class"), "--stage", "01", "--sandbox", mode, "--out", str(tmp_path / "grades"))
    (row,) = csv.DictReader((tmp_path / "grades" / "grades.csv").open())
    assert row["stage_01"] == str(FULL), proc.stdout + (tmp_path / "grades" / "ada" / "results.json").read_text()[:2000]


def test_a_checker_that_stops_says_why(tmp_path, run_cli):
    """A student whose checker could not finish is "crashed", never "ok", and the reason comes
    along: in the summary and in results.json (Gradescope shows it above the tests)."""
    extra = tmp_path / "hidden" / "stage01"
    extra.mkdir(parents=True)
    (extra / "__init__.py").write_text("")
    (extra / "stage.toml").write_text(
        'id = "01"\ntitle = "Hidden"\nfolder = "01_psycopg2"\n\n[[checks]]\nid = "stops_the_run"\ntitle = "stops the run"\npoints = 1\nhint = "-"\n'
    )
    (extra / "test_hidden.py").write_text("import pytest\n\n\ndef test_stops_the_run():\n    pytest.exit('an instructor check stopped the run')\n")
    submissions, out = tmp_path / "subs", tmp_path / "grades"
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / "ada" / STAGE)
    proc = run_cli("grade", str(submissions), "--stage", "01", "--extra-checks", str(tmp_path / "hidden"), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row,) = csv.DictReader((out / "grades.csv").open())
    assert row["status"] == "crashed"
    results = json.loads((out / "ada" / "results.json").read_text())
    assert results["output"].startswith("Grading problem: crashed (the checker stopped with exit code 3"), results["output"]
    assert all(t["status"] == "passed" or t["output"] for t in results["tests"]), "a check that did not run says why"
    assert "ada: crashed: the checker stopped with exit code 3" in proc.stdout, proc.stdout


def test_grading_again_into_the_same_folder_keeps_the_earlier_grades_csv(tmp_path, run_cli):
    """Grading a class twice with the results among the students (``cd class; grade .``): the
    first table is kept, and the results folder is never graded as a student."""
    submissions = tmp_path / "class"
    for student in ("ada", "bob"):
        shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / student / STAGE)
    out = submissions / "grades"
    for _ in range(2):
        proc = run_cli("grade", str(submissions), "--stage", "01", "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    (kept,) = out.glob("grades-*.csv")
    assert f"The grades.csv of the earlier run there is kept as {kept.name}." in proc.stdout
    for table in (kept, out / "grades.csv"):
        assert [row["student"] for row in csv.DictReader(table.open())] == ["ada", "bob"]


def test_the_exports_of_an_earlier_run_among_the_students_are_never_graded(tmp_path, run_cli):
    """A folder that an earlier run wrote its exports to (whatever its name, here ``marks``) is
    no student's, also when a later run writes elsewhere."""
    submissions = tmp_path / "class"
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / "ada" / STAGE)
    for out in (submissions / "marks", tmp_path / "elsewhere"):
        proc = run_cli("grade", str(submissions), "--stage", "01", "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [row["student"] for row in csv.DictReader((out / "grades.csv").open())] == ["ada"]
    assert "marks" not in proc.stdout, proc.stdout


def test_folder_names_that_would_run_in_a_spreadsheet_or_a_terminal_or_are_not_utf8_are_shown_as_text(tmp_path, run_cli):
    names = ["=HYPERLINK(\"http:x\")", "@SUM(1)", "+1", "-1", "plain", "new\nline", "\x1b[2Jwiped", os.fsdecode(b"Jos\xe9")]  # not UTF-8: a Windows zip
    for name in names:
        (tmp_path / "class" / name).mkdir(parents=True)
    proc = run_cli("grade", str(tmp_path / "class"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "out" / "grades.csv").open(newline="") as handle:
        students = [row["student"] for row in csv.DictReader(handle)]
    assert sorted(students) == sorted(["'=HYPERLINK(\"http:x\")", "'@SUM(1)", "'+1", "'-1", "plain", "new\nline", "\x1b[2Jwiped", "Jos\\xe9"])
    assert (tmp_path / "out" / "=HYPERLINK(\"http:x\")" / "results.json").is_file()  # the folder keeps its name
    assert "\x1b" not in proc.stdout and "new\\nline: no gradable work found" in proc.stdout and "\\x1b[2Jwiped: " in proc.stdout


def test_the_private_copy_takes_the_code_first_and_nothing_through_a_symlink(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "FILE_LIMIT", 40)
    stage = tmp_path / "labs" / STAGE
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, stage, ignore=shutil.ignore_patterns("__pycache__"))
    files = [path.relative_to(tmp_path / "labs") for path in stage.rglob("*") if path.is_file()]
    code = {path for path in files if path.suffix == ".py"}
    (stage / "vendor" / "lib").mkdir(parents=True)
    for n in range(45):  # beyond the limit, deeper Python and data files: the code still comes first
        (stage / "vendor" / "lib" / f"m{n}.py").write_text("")
        (stage / f"{n:02d}.txt").write_text("x" * (n % 7))
    (stage / "classmate.py").symlink_to(tmp_path / "elsewhere.py")
    (tmp_path / "elsewhere.py").write_text("secret = 1\n")
    (stage / "linked").symlink_to(tmp_path, target_is_directory=True)
    (stage / "same_posts.py").symlink_to("posts.py")  # the student's own file: copied as a file
    for folder, marker in [("node_modules", ""), (".git", ""), ("__pycache__", ""), ("__MACOSX", ""), ("venv", "pyvenv.cfg"), ("env", "conda-meta")]:
        (stage / folder).mkdir()
        (stage / folder / "x.py").write_text("")
        if marker:
            (stage / folder / marker).write_text("")
    for name in (".env", "._posts.py", ".DS_Store"):
        (stage / name).write_text("DATABASE_URL=postgresql://me@localhost/mine\n")
    left_out = private_copy(tmp_path / "labs", [find_stage("01")], tmp_path / "copy")
    copied = {path.relative_to(tmp_path / "copy") for path in (tmp_path / "copy").rglob("*") if path.is_file()}
    assert code | {Path(STAGE) / "same_posts.py"} < copied and len(copied) == 40 and left_out == len(files) + 1 + 45 + 45 - 40 + 2
    assert not any(path.is_symlink() for path in (tmp_path / "copy").rglob("*"))
    assert (tmp_path / "copy" / STAGE / "same_posts.py").read_text() == (stage / "posts.py").read_text()
    never = {"classmate.py", "linked", "node_modules", ".git", "__pycache__", "__MACOSX", "venv", "env", ".env", "._posts.py", ".DS_Store"}
    assert not {part for path in copied for part in path.parts} & never
    assert all(path.suffix == ".py" for path in copied)  # Python files first: the README and data are left out


def test_a_reason_in_the_exports_keeps_its_room_for_what_went_wrong():
    said = 'OperationalError: connection to server on socket "/tmp/labrelay-4242-0a1b2c/' + "x" * 280 + '/.s.PGSQL.5432" failed: FATAL: sorry, too many clients already'
    assert scrub(said, ["pw"]) == "OperationalError: connection to the server failed: FATAL: sorry, too many clients already"


def test_a_class_folder_says_what_it_did_not_grade_and_where_it_looked(tmp_path, run_cli):
    """Files beside the student folders are named as not graded (an archive unpacked beside
    itself is not); a folder without stage folders says where they were looked for, and names
    the one labs/ found deeper down; the count of graded submissions leaves those out."""
    submissions = tmp_path / "class"
    for student in ("ada", "bob"):
        shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / student / STAGE)
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / "grace" / "sql-lab-grace-main" / "labs" / STAGE)
    for deeper in ("first", "second"):
        shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / "hal" / deeper / "labs" / STAGE)
    for name in ("frank.zip", "ada.zip", "notes.txt", ".DS_Store"):
        (submissions / name).write_bytes(b"PK")
    for machine in ("__MACOSX", ".git"):  # a Mac's zip of the class; a repository of the class: no students
        shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / machine / "ada" / "labs" / STAGE)
    shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / "grace" / "__MACOSX" / "sql-lab-grace-main" / "labs" / STAGE)
    proc = run_cli("grade", str(submissions), "--stage", "01", "--out", str(tmp_path / "grades"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "grace: no gradable work found: looked for 01_psycopg2 in grace/labs/ and grace/; found grace/sql-lab-grace-main/labs: move it up?" in lines
    assert "hal: no gradable work found: looked for 01_psycopg2 in hal/labs/ and hal/" in lines, proc.stdout
    assert "not graded, as they are not folders: frank.zip, notes.txt; unpack each archive into a folder of its own" in lines
    assert f"2 submissions graded, 2 with no gradable work found; grades.csv, results.json and junit.xml are in {tmp_path / 'grades'}" in lines
    results = json.loads((tmp_path / "grades" / "grace" / "results.json").read_text())
    assert results["output"] == "Grading problem: no gradable work found (looked for 01_psycopg2 in grace/labs/ and grace/; found grace/sql-lab-grace-main/labs: move it up?)"


@pytest.mark.parametrize(("command", "says"), [
    (["grade", "{class}", "--out", "{file}"], "error: --out {file} is a file; name a folder for the results"),
    (["grade", "{class}", "--out", "{class}"], "error: --out {class} lies in the submissions' own folders"),
    (["grade", "{class}", "--out", "{class}/ada"], "error: --out {class}/ada lies in the submissions' own folders"),
    (["grade", "{class}", "--extra-checks", "{missing}"], "python -m checks grade: error: argument --extra-checks: {missing} is not a folder"),
    (["grade", "{class}", "--extra-checks", "{class}"], "python -m checks grade: error: argument --extra-checks: {class} holds no stageNN/stage.toml"),
    (["grade", "{class}", "--extra-checks", "{odd}"], "python -m checks grade: error: argument --extra-checks: {odd} has checks for stage 09, and the workbook's stages are 01, 02, 03"),
    (["grade", "{class}", "--extra-checks", "{broken}"], "python -m checks grade: error: argument --extra-checks: {broken}: a stage.toml cannot be read (TOMLDecodeError"),
    (["--json-file", "{missing}/results.json"], "python -m checks: error: argument --json-file: cannot write {missing}/results.json"),
    (["gradescope-bundle", "--out", "{missing}/a.zip"], "python -m checks gradescope-bundle: error: argument --out: cannot write {missing}/a.zip"),
])
def test_a_path_that_cannot_serve_is_refused_in_one_line_before_any_work(tmp_path, run_cli, command, says):
    """Found before grading a class (or a student's run), not after it, when the results would be lost."""
    names = {"class": tmp_path / "class", "file": tmp_path / "notes.txt", "missing": tmp_path / "missing", "odd": tmp_path / "odd",
             "broken": tmp_path / "broken"}
    (names["class"] / "ada" / STAGE).mkdir(parents=True)
    for stage_toml, text in ((names["odd"] / "stage09" / "stage.toml", 'id = "09"\ntitle = "Later"\nfolder = "09_later"\n'),
                             (names["broken"] / "stage02" / "stage.toml", 'id = "02"\ntitle =\n')):
        stage_toml.parent.mkdir(parents=True)
        stage_toml.write_text(text)
    names["file"].write_text("mine")
    proc = run_cli(*[part.format(**names) for part in command], timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(says.format(**names)), proc.stderr
    assert names["file"].read_text() == "mine" and not (tmp_path / "missing").exists()
    assert [path.name for path in (names["class"] / "ada").iterdir()] == [STAGE]  # nothing written into a student's folder


@pytest.mark.parametrize(("files", "says"), [
    ([], "is empty; it should hold one folder per student"),
    (["ada.zip", "bob.zip"], "holds no student folders, only files (ada.zip, bob.zip); unpack each archive into a folder of its own"),
])
def test_a_folder_without_student_folders_is_one_clear_line_and_writes_nothing(tmp_path, run_cli, files, says):
    submissions, out = tmp_path / "subs", tmp_path / "grades"
    submissions.mkdir()
    for name in files:
        (submissions / name).write_bytes(b"PK")
    proc = run_cli("grade", str(submissions), "--out", str(out))
    (line,) = proc.stderr.splitlines()
    assert proc.returncode == 2 and line.startswith(f"error: {submissions} {says}"), proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", [["grade", ".", "--jobs", "0"], ["grade", ".", "--wall", "0"], ["grade", ".", "--timeout", "-5"], ["--timeout", "0"]])
def test_limits_below_one_are_refused_in_one_line(run_cli, command):
    proc = run_cli(*command)
    prog = "python -m checks grade" if command[0] == "grade" else "python -m checks"
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"{prog}: error: argument {command[-2]}: {command[-1]} is "), proc.stderr


def _class_that_hangs(root, env, sigint_not_ignored, sandbox):
    """``grade`` started on two students who pass, then three whose import hangs (``--jobs 1``, by
    name), in a process group of its own, as a shell starts a job; the process, once the batch
    is stuck on the first who hangs (each leaves a file in the private copy that it is graded in)."""
    submissions = root / "subs"
    for n in range(2):
        shutil.copytree(REPO_ROOT / "solutions" / STAGE, submissions / f"a{n}" / STAGE)
    hangs = _solution_with("import pathlib, time\npathlib.Path(__file__).with_name('reached').touch()\ntime.sleep(3600)\n")
    for n in range(3):
        (submissions / f"b{n}" / STAGE).mkdir(parents=True)
        (submissions / f"b{n}" / POSTS).write_text(hangs)
    proc = subprocess.Popen([sys.executable, "-m", "checks", "grade", str(submissions), "--stage", "01", "--jobs", "1", "--out", str(root / "grades"),
                             "--sandbox", sandbox], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=sigint_not_ignored)
    deadline = time.monotonic() + 300
    while not glob.glob(f"{tempfile.gettempdir()}/labgrade-{proc.pid}-*/labs/{STAGE}/reached"):
        assert proc.poll() is None and time.monotonic() < deadline, "the batch never reached the student who hangs"
        time.sleep(0.1)
    return proc


def _family(pid):
    """``pid`` and every process it started that still runs."""
    return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}


def _assert_stopped_cleanly(proc, family, out, cache, env):
    """The partial results are written, and nothing is left: no server running, no database or
    role of the batch on it, no temporary folder of any of its processes."""
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted: 2 of 5 submissions graded" in stdout and "Traceback" not in stderr, stdout + stderr
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [(row["student"], row["status"], row["stage_01"]) for row in rows] == [("a0", "ok", str(FULL)), ("a1", "ok", str(FULL))]
    assert subprocess.run(["pgrep", "-f", f"postgres -D {cache}"], capture_output=True, check=False).returncode == 1, "a server is still running"
    left = [path.name for path in Path(tempfile.gettempdir()).glob("lab*-*") if (mark := STALE.match(path.name)) and int(mark[1]) in family]
    assert left == [], "temporary folders left behind"
    started = subprocess.run([sys.executable, "-m", "checks", "db", "start"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    try:
        listed = subprocess.run([sys.executable, "-m", "checks", "db", "psql"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
                                input="SELECT datname FROM pg_database UNION ALL SELECT rolname FROM pg_roles;")
        assert "labtmp" not in listed.stdout and "labstudent" not in listed.stdout and "template0" in listed.stdout, listed.stdout + listed.stderr
    finally:
        subprocess.run([sys.executable, "-m", "checks", "db", "stop"], cwd=REPO_ROOT, env=env, capture_output=True, check=False)
    assert started.returncode == 0


@pytest.mark.parametrize("sandbox", ["off", pytest.param("require", marks=pytest.mark.sandbox)])
def test_ctrl_c_keeps_partial_results_and_leaves_nothing_behind(tmp_path, cache_dir, embedded_env, sigint_not_ignored, sandbox):
    env = embedded_env(cache_dir)  # the batch starts its own embedded server
    proc = _class_that_hangs(tmp_path, env, sigint_not_ignored, sandbox)
    family = _family(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal
    _assert_stopped_cleanly(proc, family, tmp_path / "grades", cache_dir, env)


def test_more_ctrl_c_do_not_cut_the_clean_stop_short(tmp_path, cache_dir, embedded_env, sigint_not_ignored):
    """Ctrl-C pressed again and again (or ``timeout -s INT``, which signals the process and its
    group): every one after the first comes while the batch stops, and is ignored."""
    env = embedded_env(cache_dir)
    proc = _class_that_hangs(tmp_path, env, sigint_not_ignored, "off")
    family = _family(proc.pid)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.02)
    _assert_stopped_cleanly(proc, family, tmp_path / "grades", cache_dir, env)
