"""The GitHub Classroom workflow grades every stage of the registry with its real maximum score."""

import yaml

from checks.registry import REPO_ROOT, load_stages


def test_workflow_has_one_graded_step_per_stage():
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "classroom.yml").read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    graders = {step["id"]: step["with"] for step in steps if "autograding-command-grader" in step.get("uses", "")}
    expected = {f"stage-{stage.id}": (f"python -m checks {stage.id}", stage.max_points) for stage in load_stages()}
    assert {key: (value["command"], value["max-score"]) for key, value in graders.items()} == expected
    reporter = next(step for step in steps if "grading-reporter" in step.get("uses", ""))
    assert reporter["with"]["runners"].split(",") == list(expected)
