"""The READMEs are followed from the workbook root: their commands work there, and the one place
they cannot work (a stage folder) is named in each stage README with Python's own message."""

import os
import re
import shlex
import subprocess
import sys
import time

import httpx
import pytest

from checks.registry import REPO_ROOT, load_stages

STAGES = [pytest.param(stage, id=stage.id) for stage in load_stages()]


def _readme(stage):
    return (REPO_ROOT / "solutions" / stage.folder / "README.md").read_text()  # labs/ holds the same text


@pytest.mark.parametrize("stage", STAGES)
def test_from_a_stage_folder_python_finds_no_checks_and_the_readme_says_so(stage):
    proc = subprocess.run([sys.executable, "-m", "checks", stage.id], cwd=REPO_ROOT / "labs" / stage.folder, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().endswith("No module named checks"), proc.stderr
    readme = " ".join(_readme(stage).split())
    assert "Work from the workbook root" in readme and "`No module named checks`" in readme
    assert "cd labs" not in readme and "this folder" not in readme


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
