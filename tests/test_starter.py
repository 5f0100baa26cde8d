"""The suite proves the checks against the starter as committed: finished work in labs/ changes nothing."""

import shutil

from checks.registry import REPO_ROOT, find_stage

STAGE = find_stage("01")
PROOFS = [f"tests/test_proof.py::test_check_fails_on_starter[{check.key}]" for check in STAGE.checks]


def test_a_finished_stage_in_labs_still_proves_its_checks_against_the_starter(workbook_clone, run_pytest):
    for path in (REPO_ROOT / "solutions" / STAGE.folder).glob("*.py"):  # the student finished stage 01
        shutil.copy2(path, workbook_clone / "labs" / STAGE.folder / path.name)
    proc = run_pytest(*PROOFS, cwd=workbook_clone)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(PROOFS)} passed" in proc.stdout


def test_outside_a_git_checkout_the_starter_proofs_are_skipped_with_the_reason(workbook_clone, run_pytest, tmp_path):
    copy = tmp_path / "no_git"
    shutil.copytree(workbook_clone, copy, ignore=shutil.ignore_patterns(".git"))
    proc = run_pytest(*PROOFS, cwd=copy)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"{len(PROOFS)} skipped" in proc.stdout and "not a git checkout" in proc.stdout
