"""The registry and the check modules agree, and the starter (as committed) mirrors solutions/ file by file."""

import ast
import importlib.util
import sys

import pytest

from checks.registry import REPO_ROOT, load_stages
from checks.subject.host import PRELOAD as HOST_PRELOAD

STAGES = [pytest.param(stage, id=stage.id) for stage in load_stages()]
STUDENT_CREATED = {"versions"}  # folders whose files the student creates (Alembic revisions)


def test_every_stage_is_registered():
    assert [stage.id for stage in load_stages()] == ["01", "02", "03"]


@pytest.mark.parametrize("stage", STAGES)
def test_registry_and_check_functions_match(stage):
    functions = set()
    for module in stage.checks_dir.glob("test_*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        functions |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    registered = [f"test_{check.id}" for check in stage.checks]
    assert len(registered) == len(set(registered)), "check ids must be unique"
    assert set(registered) == functions


@pytest.mark.parametrize("stage", STAGES)
def test_checks_have_points_and_hints_naming_a_step(stage):
    for check in stage.checks:
        assert check.points > 0, check.key
        assert check.group in {"core", "challenge"}, check.key
        assert "step" in check.hint.lower(), f"{check.key}: the hint should name the README step"


def _files(folder):
    return {
        path.relative_to(folder)
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not STUDENT_CREATED & set(path.relative_to(folder).parts[:-1])
    }


@pytest.mark.parametrize("stage", STAGES)
def test_labs_mirror_solutions_file_by_file(stage, starter):
    labs, solutions = starter / stage.folder, REPO_ROOT / "solutions" / stage.folder
    assert _files(labs) == _files(solutions)
    assert (labs / "README.md").read_text() == (solutions / "README.md").read_text()


@pytest.mark.parametrize("stage", STAGES)
def test_starter_marks_every_difference_with_a_todo(stage, starter):
    labs, solutions = starter / stage.folder, REPO_ROOT / "solutions" / stage.folder
    for name in _files(labs):
        if name.suffix == ".py" and (labs / name).read_text() != (solutions / name).read_text():
            assert "TODO" in (labs / name).read_text(), f"labs/{stage.folder}/{name} differs from the solution without a TODO"


def _imported_packages(folder) -> set[str]:
    """The top-level packages the code in ``folder`` imports, but the standard library's and its own."""
    own = {path.stem for path in folder.iterdir()} | {"versions"}
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - own


@pytest.mark.parametrize("stage", STAGES)
def test_a_stages_libraries_are_installed_and_cover_what_its_solution_imports(stage):
    """What the subject host preloads for a stage (a wrong list costs time, not a result)."""
    assert all(importlib.util.find_spec(name) for name in stage.libraries), stage.libraries
    listed = {name.split(".")[0] for name in [*stage.libraries, *HOST_PRELOAD]}
    assert _imported_packages(REPO_ROOT / "solutions" / stage.folder) <= listed
