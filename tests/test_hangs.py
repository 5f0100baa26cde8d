"""Code that never returns costs its own checks, and the reason says where it was stuck."""

import os
import re

from checks.engine.parallel import SHARDS
from checks.engine.subject import SharedSpots

# Every SELECT spins: the checks of list_posts, of get_post and of the API's GET routes hang in _run.
RUN = '    """Execute one statement with parameters, commit, and return its rows as plain dicts."""\n'
LOOP = RUN + '    while query.startswith("SELECT"):\n        pass\n'


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_hung_function_names_its_line_and_costs_one_time_limit(make_target, run_checks):
    """The checks stuck there side by side (one per process) each wait out the limit; a later one
    stops after a second. Three hung checks, in two processes: one of them comes later."""
    target = make_target("01", replace={"posts.py": [(RUN, LOOP)]})
    line = _line_of((target / "01_psycopg2" / "posts.py").read_text(), "        pass\n")
    results = run_checks(target, "01", "--timeout", "5")
    hung = {check: r.reason for check, r in results.items() if r.status == "failed"}
    assert len(hung) >= 3, hung
    assert all(re.search(rf"01_psycopg2/posts\.py:({line}|{line - 1}) in _run", reason) for reason in hung.values()), hung
    waited = [reason for reason in hung.values() if reason.startswith("took longer than 5 s")]
    assert 1 <= len(waited) <= SHARDS, hung
    assert len(waited) < len(hung) and all("hung in the same function as an earlier check" in reason for reason in hung.values() if reason not in waited), hung
    assert {check for check, r in results.items() if r.status == "passed"} >= {"connect_reads_database_url", "create_post_returns_the_new_row_as_a_dict"}


def test_a_hang_at_import_fails_the_stage_with_the_stuck_line(make_target, run_checks):
    target = make_target("01", replace={"main.py": [("import posts\n", "import posts\n\nwhile True:\n    pass\n")]})
    line = _line_of((target / "01_psycopg2" / "main.py").read_text(), "    pass\n")
    results = run_checks(target, "01", "--timeout", "5")
    reasons = {r.reason for r in results.values()}
    assert 1 <= len(reasons) <= SHARDS, reasons  # what each process that imported the stage saw
    for reason in reasons:
        assert re.search(rf"importing the stage did not finish in 5 s, stuck at .*01_psycopg2/main\.py:({line}|{line - 1})", reason), reason


def test_a_hang_inside_c_costs_only_its_check(make_target, run_checks):
    catastrophic = "    import re\n    re.match(r'(a+)+$', 'a' * 64 + 'b')\n"
    target = make_target("01", replace={"posts.py": [('    """One post, or None when there is no post with that id."""\n',
                                                      '    """One post, or None when there is no post with that id."""\n' + catastrophic)]})
    results = run_checks(target, "01", "--timeout", "5")
    failed = {check for check, r in results.items() if r.status == "failed"}
    assert "get_post_finds_one_or_none" in failed
    assert all("in get_post" in results[check].reason for check in failed), {c: results[c].reason for c in failed}
    assert "create_post_returns_the_new_row_as_a_dict" not in failed and "list_posts_ordered_by_id" not in failed


def test_the_processes_of_a_run_share_the_functions_a_check_hung_in(tmp_path):
    """What one process of a run learns (a function that hung) holds for the checks of the others."""
    spots = SharedSpots(tmp_path / "stuck-spots")
    assert not spots and "posts.py in get_post" not in spots
    if (pid := os.fork()) == 0:
        SharedSpots(tmp_path / "stuck-spots").add("posts.py in get_post")
        os._exit(0)
    os.waitpid(pid, 0)
    assert spots and "posts.py in get_post" in spots and "posts.py in get" not in spots
