"""Stage 01: a check that fails only because an earlier step is broken says which step it needs.

The mutants come from checks/stage01/rules.toml, by name; tests/test_rules.py proves which checks
they fail, this test reads the reasons of the checks that fail for a step other than their own.
"""

import pytest

from checks.registry import find_stage, rule_table

# mutant -> the step that the checks it breaks beyond its own rule must name
NEEDS = {
    "reads DATABASE_URL without converting the SQLAlchemy scheme": 2,
    "id is a plain integer, not serial": 3,
    "forgets RETURNING": 4,
    "fetchall for one row: returns a list": 5,
    "a lifespan that never creates the table": 7,
    "setup_database() runs at import, not in the lifespan": 7,
}


def _table() -> dict:
    return rule_table(find_stage("01"))


@pytest.fixture(scope="module")
def graded(grade_variants):
    """The mutants of NEEDS, graded in one batch; with the checks of their own rule."""
    found = {mutant["name"]: (mutant, set(rule["checks"])) for rule in _table()["rules"] for mutant in rule["mutants"] if mutant["name"] in NEEDS}
    edits = {name: {key: mutant[key] for key in ("replace", "files", "delete") if key in mutant} for name, (mutant, _) in found.items()}
    for pairs in (edit.get("replace", {}) for edit in edits.values()):
        for name in pairs:
            pairs[name] = [tuple(pair) for pair in pairs[name]]
    return grade_variants("01", edits), {name: own for name, (_, own) in found.items()}


@pytest.mark.parametrize("name", NEEDS)
def test_a_check_waiting_for_an_earlier_step_names_it(graded, name):
    results, own = graded
    waiting = {check: result.reason for check, result in results[name].items() if result.status == "failed" and check not in own[name]}
    assert waiting, f"{name} breaks no check beyond its own rule: take it out of NEEDS"
    wrong = {check: reason for check, reason in waiting.items() if not reason.startswith(f"needs step {NEEDS[name]} first")}
    assert not wrong, wrong


def test_a_connection_opened_at_import_is_explained(grade_variants):
    """A connection made when main.py is imported is closed before any check (each starts on a
    database whose sessions were ended): the reason says so, where the error alone was
    'connection already closed'."""
    at_import = {"main.py": [
        ("def get_conn() -> Iterator:", "_CONNECTION = posts.connect()\n\n\ndef get_conn() -> Iterator:"),
        ("    conn = posts.connect()\n    try:\n        yield conn\n    finally:\n        conn.close()", "    yield _CONNECTION"),
    ]}
    results = grade_variants("01", {"one connection opened at import": {"replace": at_import}})["one connection opened at import"]
    assert "connection already closed; a connection made when main.py or posts.py is imported does not outlive it here" in results["api_creates_posts"].reason
