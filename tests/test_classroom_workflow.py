"""GitHub Classroom: one grading step wired to the reporter, and the points the reporter records
are the checks' points (partial credit), summed exactly as the reporter sums them."""

import base64
import json
import re
import shlex

import yaml

from checks.registry import REPO_ROOT, find_stage

STEPS = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "classroom.yml").read_text())["jobs"]["run-autograding-tests"]["steps"]
REPORTER = next(step for step in STEPS if "autograding-grading-reporter" in step.get("uses", ""))
GRADER = next(step for step in STEPS if "--classroom" in step.get("run", ""))
OUTPUT_REFERENCE = re.compile(r"^\$\{\{\s*steps\.([\w-]+)\.outputs\.result\s*\}\}$")


def reporter_totals(environ: dict[str, str]) -> tuple[int, int]:
    """What autograding-grading-reporter records (src/main.js, src/notify-classroom.js): for each
    id in ``runners``, base64-decode ``<ID>_RESULTS`` and parse it; a runner with a max_score adds
    it to the maximum and each of its tests' score to the total."""
    total = maximum = 0
    for runner in REPORTER["with"]["runners"].split(","):
        results = json.loads(base64.b64decode(environ[f"{runner.strip().upper()}_RESULTS"]).decode("utf-8"))
        if not results["max_score"]:
            continue
        maximum += results["max_score"]
        total += sum(test["score"] for test in results["tests"])
    return total, maximum


def step_outputs(output_file) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output_file.read_text().splitlines())


def reporter_environ(outputs: dict[str, str]) -> dict[str, str]:
    """The reporter's env block with ``${{ steps.<id>.outputs.result }}`` filled in from the grading step."""
    environ = {}
    for name, expression in REPORTER["env"].items():
        (step_id,) = OUTPUT_REFERENCE.match(expression).groups()
        assert step_id == GRADER["id"], f"{name} reads the output of step {step_id!r}, not the grading step"
        environ[name] = outputs["result"]
    return environ


def test_the_reporter_reads_the_grading_step():
    assert REPORTER["with"]["runners"] == GRADER["id"]
    assert set(REPORTER["env"]) == {f"{GRADER['id'].upper()}_RESULTS"}
    assert re.fullmatch(r"[a-zA-Z0-9]+", GRADER["id"]), "the reporter accepts runner ids of letters and digits only"
    assert shlex.split(GRADER["run"]) == ["python", "-m", "checks", "--classroom"]


def test_one_broken_check_costs_its_points_only(make_target, run_cli, checks_env):
    stage = find_stage("01")
    broken = next(check for check in stage.checks if check.id == "create_table_is_idempotent")
    assert broken.points == 1
    target = make_target("01", replace={"posts.py": [("CREATE TABLE IF NOT EXISTS", "CREATE TABLE")]})
    output = target.parent / "github_output"
    command = shlex.split(GRADER["run"])[3:] + ["01", "--target", str(target)]
    proc = run_cli(*command, env=checks_env(GITHUB_OUTPUT=str(output)))
    assert proc.returncode == 0, proc.stderr  # graded: the reporter step runs
    assert f"{stage.max_points - broken.points}/{stage.max_points} points" in proc.stdout  # the usual table too

    outputs = step_outputs(output)
    assert reporter_totals(reporter_environ(outputs)) == (stage.max_points - broken.points, stage.max_points)
    results = json.loads(base64.b64decode(outputs["result"]))
    assert results["status"] == "fail" and len(results["tests"]) == len(stage.checks)
    (failed,) = [test for test in results["tests"] if test["status"] != "pass"]
    assert failed["status"] == "fail" and failed["score"] == 0
    assert "already exists" in failed["message"] and broken.hint in failed["message"]
    assert {test["score"] for test in results["tests"] if test["status"] == "pass"} == {1, 2, 3}


def test_classroom_outside_github_actions_is_a_usage_error(run_cli, checks_env):
    env = checks_env()
    env.pop("GITHUB_OUTPUT", None)
    proc = run_cli("01", "--classroom", env=env)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --classroom") and "Traceback" not in proc.stderr
