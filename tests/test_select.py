"""What a command line selects: stages by id, folder or path; checks by title or id (``-k``); ``list --checks`` shows the ids."""

import json
import shutil

import pytest

from checks.commands import status
from checks.commands.common import VALUE_OPTIONS, likely_stages, select, stage_named
from checks.commands.run import build_parser, keyword_expression
from checks.errors import UsageError
from checks.registry import REPO_ROOT, Check, find_stage, load_stages


def _check(check_id, title):
    return Check(stage="09", id=check_id, title=title, points=1, hint="step 1")


CHECKS = [_check("api_lists", "GET /things lists every thing"), _check("api_lists_sorted", "GET /things is ordered by id"),
          _check("create", "POST /things answers 201")]


def test_a_word_from_a_title_selects_exactly_the_checks_that_contain_it():
    assert keyword_expression("EVERY thing", CHECKS) == "(test_api_lists and not test_api_lists_sorted)"
    assert keyword_expression("things", CHECKS) == "(test_api_lists) or (test_api_lists_sorted) or (test_create)"
    assert keyword_expression("sorted", CHECKS) == "(test_api_lists_sorted)"


def test_a_pytest_expression_over_ids_is_kept():
    assert keyword_expression("api_lists and not sorted", CHECKS) == "api_lists and not sorted"


def test_a_word_no_check_contains_is_a_usage_error_naming_the_stages():
    with pytest.raises(UsageError, match="no check of stage 09 has 'pool' in its title or id"):
        keyword_expression("pool", CHECKS)


def test_the_early_guess_of_the_stages_skips_option_values(monkeypatch):
    """The subject host starts before the command line is parsed: ``-k 02`` names no stage."""
    monkeypatch.chdir(REPO_ROOT)
    every = list(load_stages())
    assert likely_stages(["-k", "02"]) == every
    assert likely_stages(["01", "--timeout", "03"]) == [find_stage("01")]
    assert likely_stages(["--target", "solutions", "03"]) == [find_stage("03")]


def test_the_guess_knows_every_option_that_takes_a_value():
    parsers = [build_parser(), status._parser("list", ""), status._parser("hint", "")]
    valued = {flag for parser in parsers for action in parser._actions if action.option_strings and action.nargs is None
              and action.const is None for flag in action.option_strings}
    assert valued == VALUE_OPTIONS


def test_a_stage_may_be_named_by_its_folder_or_a_path_to_it(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert [stage_named(arg) for arg in ("2", "stage02", "02_orm_crud")] == [("2", None), ("02", None), ("02", None)]
    assert stage_named("solutions/02_orm_crud/") == ("02", REPO_ROOT / "solutions")
    selection = select(["labs/01_psycopg2/", "03"], None)
    assert [stage.id for stage in selection.stages] == ["01", "03"] and selection.target == str(REPO_ROOT / "labs")
    assert likely_stages(["solutions/03_alembic"]) == [find_stage("03")]
    with pytest.raises(UsageError, match="lie in different folders"):
        select(["solutions/01_psycopg2"], "labs")
    assert [stage.id for stage in select(["01", "1", "stage01", "01_psycopg2"], "solutions").stages] == ["01"]  # each stage once


def test_slips_in_naming_a_stage_get_what_was_meant_or_one_clear_line(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert stage_named("Stage02") == ("02", None)
    assert stage_named("labs/02_orm_crud/app") == ("02", REPO_ROOT / "labs")  # tab-completed one folder too far
    with pytest.raises(UsageError, match=r"^no folder lab/02_orm_crud; name a stage \(01, 02 or 03\) or the path to a stage folder$"):
        select(["lab/02_orm_crud"], None)
    with pytest.raises(UsageError, match=r"unknown stage 'help'; .* \(python -m checks --help says more\)$"):
        select(["help"], None)


def test_a_target_that_is_a_stage_folder_means_that_stage_of_the_folder_holding_it(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    selection = select([], "solutions/02_orm_crud/")
    assert [stage.id for stage in selection.stages] == ["02"] and selection.target == str(REPO_ROOT / "solutions")
    assert selection.note == "solutions/02_orm_crud is a stage folder: checking stage 02 of solutions"
    assert [stage.id for stage in select(["03"], "solutions/02_orm_crud").stages] == ["03"]
    with pytest.raises(UsageError, match="lie in different folders"):
        select(["labs/01_psycopg2"], "solutions/02_orm_crud")
    assert select([], "solutions").target == "solutions"  # the folder holding the stages is a target as it was


def test_pytest_checks_with_a_stage_folder_as_target_grades_that_stage_only(run_pytest):
    proc = run_pytest("checks", "--target", "solutions/01_psycopg2")
    others = sum(len(stage.checks) for stage in load_stages() if stage.id != "01")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert f"{len(find_stage('01').checks)} passed, {others} deselected" in proc.stdout, proc.stdout[-1000:]
    conflict = run_pytest("checks/stage03", "--target", "solutions/01_psycopg2")
    assert conflict.returncode == 4 and "Traceback" not in conflict.stdout + conflict.stderr
    assert "--target solutions/01_psycopg2 is the folder of stage 01, whose checks are not among those named" in conflict.stderr


def test_a_copy_of_a_students_repository_is_checked_in_its_labs(run_cli, run_pytest, tmp_path):
    """As grade reads a submission: the single-student commands give that student the same points."""
    repository = tmp_path / "ada lovelace"
    shutil.copytree(REPO_ROOT / "solutions" / "01_psycopg2", repository / "labs" / "01_psycopg2", ignore=shutil.ignore_patterns("__pycache__"))
    proc = run_cli("01", "--target", str(repository), "-k", "connect_reads", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["target"] == str(repository / "labs")
    plugin = run_pytest("checks/stage01", "--target", str(repository), "-k", "connect_reads")
    assert plugin.returncode == 0 and "1 passed" in plugin.stdout, plugin.stdout[-2000:]


def test_a_tab_completed_stage_folder_is_checked_there(run_cli):
    proc = run_cli("solutions/01_psycopg2/", "-k", "connect_reads", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["target"] == str(REPO_ROOT / "solutions")


def test_k_matches_a_title_phrase_in_a_real_run(run_checks):
    assert set(run_checks("solutions", "02", "-k", "Lists Every User")) == {"list_users_ordered_by_id"}


def test_k_with_an_unknown_word_is_one_clear_line(run_cli):
    proc = run_cli("01", "-k", "pool")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: no check of stage 01 has 'pool' in its title or id; `python -m checks list --checks` shows every check"
    ]


def test_k_with_an_expression_pytest_cannot_read_is_refused_without_a_table(run_cli):
    proc = run_cli("01", "-k", "connect and not")
    assert proc.returncode == 2 and "✗" not in proc.stdout and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: -k 'connect and not' is not an expression pytest can read"), proc.stderr


def test_list_checks_shows_every_check_with_its_id(run_cli):
    proc = run_cli("list", "--checks", "--target", "solutions")
    assert proc.returncode == 0, proc.stderr
    for stage in load_stages():
        for check in stage.checks:
            assert f"✓ {check.id}: {check.title}" in proc.stdout
    plain = run_cli("list", "--target", "solutions").stdout
    assert "list --checks" in plain and find_stage("02").checks[0].id not in plain
