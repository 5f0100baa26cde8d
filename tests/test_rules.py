"""Every check is proven by the rule table of its stage (``checks/stageNN/rules.toml``).

The table lists each rule the stage's README states, the checks that grade it, and mutants of
the solution that break only that rule: each mutant must fail exactly the checks it names and
pass every other. Correct solutions in other common styles must pass every check. A stage's
variants are graded together in one batch.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from checks.registry import load_stages, rule_table

STAGES = {stage.id: stage for stage in load_stages()}
# The first test of a stage grades all its variants (one batch, a minute or two on two free cores).
pytestmark = pytest.mark.timeout(1800)


@cache
def table(stage_id: str) -> dict:
    return rule_table(STAGES[stage_id])


def _edits(entry: dict) -> dict:
    return {
        "replace": {name: [tuple(pair) for pair in pairs] for name, pairs in entry.get("replace", {}).items()},
        "files": entry.get("files", {}),
        "delete": entry.get("delete", []),
    }


def mutants(stage_id: str) -> dict[str, tuple[dict, set[str]]]:
    """Mutant name -> (its edits, the checks it must fail)."""
    found = {}
    for rule in table(stage_id)["rules"]:
        for mutant in rule.get("mutants", []):
            found[f"{rule['id']}: {mutant['name']}"] = (_edits(mutant), set(mutant.get("fails", rule["checks"])))
    return found


def styles(stage_id: str) -> dict[str, dict]:
    return {style["name"]: _edits(style) for style in table(stage_id).get("styles", [])}


@pytest.fixture(scope="module")
def graded_variants(grade_variants):
    """Every stage's mutants and styles, graded once per test session."""
    results = {}

    def of(stage_id: str) -> dict:
        if stage_id not in results:
            variants = {name: edits for name, (edits, _) in mutants(stage_id).items()} | styles(stage_id)
            results[stage_id] = grade_variants(stage_id, variants) if variants else {}
        return results[stage_id]

    return of


CASES = [pytest.param(stage_id, name, id=f"{stage_id} {name}") for stage_id in STAGES for name in mutants(stage_id)]
STYLE_CASES = [pytest.param(stage_id, name, id=f"{stage_id} {name}") for stage_id in STAGES for name in styles(stage_id)]


@pytest.mark.parametrize(("stage_id", "name"), CASES)
def test_a_mutant_fails_exactly_its_rules_checks(graded_variants, stage_id, name):
    results = graded_variants(stage_id)[name]
    expected = mutants(stage_id)[name][1]
    failed = {check for check, result in results.items() if result.status == "failed"}
    assert failed == expected, {check: results[check].reason for check in failed ^ expected}
    for check in expected:
        assert results[check].reason, f"{check} fails without saying why"


@pytest.mark.parametrize(("stage_id", "name"), STYLE_CASES)
def test_a_correct_style_passes_every_check(graded_variants, stage_id, name):
    results = graded_variants(stage_id)[name]
    failed = {check: result.reason for check, result in results.items() if result.status == "failed"}
    assert failed == {}


@pytest.mark.parametrize("stage_id", [s for s in STAGES if table(s)["rules"]])
def test_every_check_has_a_rule_and_a_mutant(stage_id):
    graded_by_rules = {check for rule in table(stage_id)["rules"] if rule.get("mutants") for check in rule["checks"]}
    missing = [check.id for check in STAGES[stage_id].checks if check.id not in graded_by_rules]
    assert not missing, f"checks with no rule (and mutant) in {Path(STAGES[stage_id].checks_dir.name) / 'rules.toml'}: {missing}"


@pytest.mark.parametrize("stage_id", [s for s in STAGES if table(s)["rules"]])
def test_rules_name_known_checks(stage_id):
    known = {check.id for check in STAGES[stage_id].checks}
    for rule in table(stage_id)["rules"]:
        assert set(rule["checks"]) <= known, f"{rule['id']} names unknown checks {set(rule['checks']) - known}"
        for mutant in rule.get("mutants", []):
            assert set(mutant.get("fails", [])) <= known, f"{mutant['name']} names unknown checks"
