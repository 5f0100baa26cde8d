"""The READMEs are followed from the workbook root: their commands work there. ``python -m checks``
also works in a stage folder (requirements.txt installs the grader, in editable mode), where it
checks that stage of that folder's labs/ or solutions/; each stage README says so, and how to mend
an install that predates it."""

import json
import os
import re
import shlex
import subprocess
import sys
import time

import httpx
import pytest

from checks.registry import REPO_ROOT, find_stage, load_stages

STAGES = [pytest.param(stage, id=stage.id) for stage in load_stages()]


def _readme(stage):
    return (REPO_ROOT / "solutions" / stage.folder / "README.md").read_text()  # labs/ holds the same text


@pytest.fixture
def checks_in(workbook_clone, checks_env):
    """``checks_in(folder, *args)``: ``python -m checks ARGS`` in ``folder`` of a clone of the
    workbook, its grader importable from any folder as the editable install makes it (here through
    PYTHONPATH: the suite's own virtualenv may predate that install)."""
    env = checks_env(PYTHONPATH=str(workbook_clone))

    def run(folder: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "checks", *args], cwd=workbook_clone / folder, env=env,
                              capture_output=True, text=True, timeout=600)

    return run


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_readme_says_python_m_checks_works_in_its_folder_and_how_to_mend_an_old_install(stage):
    readme = " ".join(_readme(stage).split())
    assert "Work from the workbook root" in readme and "cd labs" not in readme
    assert "`python -m checks` also works in this stage folder, where it checks this stage only" in readme
    assert "`No module named checks`, run `pip install -r requirements.txt` again at the root" in readme


def test_in_a_stage_folder_the_checks_grade_that_stage_of_that_folders_target(checks_in, workbook_clone, tmp_path):
    results = tmp_path / "results.json"
    proc = checks_in("solutions/02_orm_crud/app", "--json-file", str(results))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.stdout.startswith("In solutions/02_orm_crud: checking stage 02 of solutions ("), proc.stdout[:500]
    graded = json.loads(results.read_text())
    assert graded["target"] == str((workbook_clone / "solutions").resolve())
    assert [r["check"] for r in graded["results"]] == [check.id for check in find_stage("02").checks]


def test_stages_and_target_on_the_command_line_win_over_the_stage_folder(checks_in, workbook_clone):
    one = ("-k", find_stage("01").checks[0].id)
    starter = checks_in("labs/01_psycopg2", *one)  # the folder's stage and target: the committed starter
    assert starter.returncode == 1, starter.stdout[-3000:] + starter.stderr[-2000:]
    assert starter.stdout.startswith("In labs/01_psycopg2: checking stage 01 of labs (") and "Stage 02" not in starter.stdout
    solution = checks_in("labs/01_psycopg2", "--target", "solutions", *one)
    assert solution.returncode == 0, solution.stdout[-3000:] + solution.stderr[-2000:]
    assert solution.stdout.startswith("In labs/01_psycopg2: checking stage 01 of solutions (")
    named = checks_in("labs/01_psycopg2", "02", "--target", "solutions", "-k", find_stage("02").checks[0].id, "--json")
    assert named.returncode == 0, named.stdout[-3000:] + named.stderr[-2000:]
    graded = json.loads(named.stdout)  # nothing came from the folder: no note, the output is the JSON alone
    assert graded["target"] == str((workbook_clone / "solutions").resolve()) and {r["stage"] for r in graded["results"]} == {"02"}


def test_in_a_stage_folder_its_modules_do_not_shadow_the_graders(checks_env, tmp_path):
    folder = tmp_path / "labs" / "01_psycopg2"
    folder.mkdir(parents=True)
    (folder / "watchfiles.py").write_text('raise SystemExit("the stage folder shadowed a library")\n')
    proc = subprocess.run([sys.executable, "-m", "checks", "watch", "--help"], cwd=folder, env=checks_env(PYTHONPATH=str(REPO_ROOT)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage: python -m checks watch" in proc.stdout, proc.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_the_readmes_uvicorn_command_serves_the_app_from_the_root(stage, database, tmp_path):
    (command,) = re.findall(r"^uvicorn .*$", _readme(stage), re.MULTILINE)
    args = shlex.split(command.replace("labs/", "solutions/"))[1:]
    args = [a for i, a in enumerate(args) if a not in ("--reload", "--reload-dir") and args[i - 1] != "--reload-dir"]
    socket = tmp_path / "app.sock"
    env = {**os.environ, "DATABASE_URL": database.url}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--uds", str(socket)], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not socket.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read() if server.poll() is not None else "no socket"
            time.sleep(0.1)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://app") as client:
            assert client.get("/openapi.json").status_code == 200
    finally:
        server.terminate()
        server.wait(30)


def test_stage_01s_try_it_runs_from_the_root(database):
    readme = _readme(load_stages()[0])
    (block,) = re.findall(r"```\n\$ (PYTHONPATH=\S+) python\n(.*?)```", readme, re.DOTALL)
    path, session = block
    statements = [line.removeprefix(">>> ") for line in session.splitlines() if line.startswith(">>> ")]
    env = {**os.environ, "DATABASE_URL": database.url, "PYTHONPATH": path.split("=", 1)[1].replace("labs/", "solutions/")}
    proc = subprocess.run([sys.executable, "-c", "\n".join(statements)], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_top_readme_makes_the_virtualenv_before_installing():
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme.index("python -m venv .venv") < readme.index("pip install -r requirements.txt")


def test_stage_03_empties_the_database_before_the_baseline():
    readme = _readme(load_stages()[2])
    step2 = readme[readme.index("## Step 2"):readme.index("## Step 3")]
    assert step2.index("python -m checks db reset\n") < step2.index("alembic revision --autogenerate")
