"""Code that never returns costs its own checks, and the reason says where it was stuck."""

import re

from checks.registry import REPO_ROOT

SOLUTION = REPO_ROOT / "solutions" / "01_psycopg2"
LOOP = '    """One post, or None when there is no post with that id."""\n    while True:\n        pass\n'


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_hung_function_names_its_line_and_costs_one_time_limit(make_target, run_checks):
    target = make_target("01", replace={"posts.py": [('    """One post, or None when there is no post with that id."""\n', LOOP)]})
    line = _line_of((target / "01_psycopg2" / "posts.py").read_text(), "        pass\n")
    results = run_checks(target, "01", "--timeout", "5")
    hung = {check: r.reason for check, r in results.items() if r.status == "failed"}
    assert hung, "no check called get_post"
    first, *later = hung.values()
    assert "took longer than 5 s" in first and re.search(rf"01_psycopg2/posts\.py:({line}|{line - 1}) in get_post", first), first
    assert all("in get_post" in reason for reason in later), later  # every later check stuck there names it
    assert any("hung in the same function as an earlier check" in reason for reason in later), later  # and ends early
    assert {check for check, r in results.items() if r.status == "passed"} >= {"connect_reads_database_url", "create_post_returns_the_new_row_as_a_dict"}


def test_a_hang_at_import_fails_the_stage_with_the_stuck_line(make_target, run_checks):
    target = make_target("01", replace={"main.py": [("import posts\n", "import posts\n\nwhile True:\n    pass\n")]})
    line = _line_of((target / "01_psycopg2" / "main.py").read_text(), "    pass\n")
    results = run_checks(target, "01", "--timeout", "5")
    reasons = {r.reason for r in results.values()}
    assert len(reasons) == 1, reasons
    (reason,) = reasons
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
