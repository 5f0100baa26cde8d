"""Loading a target's code: each stage fresh and isolated, errors as file:line."""

import importlib.util
import marshal
import shutil
import struct
import sys
from pathlib import Path

import pytest

from checks.registry import REPO_ROOT
from checks.subject.loader import StudentCodeError, import_from_stage, stage_imports


def _package(folder, marker):
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "__init__.py").write_text("")
    (folder / "app" / "main.py").write_text(f"MARKER = {marker!r}\n")
    return folder


def test_stages_reusing_a_package_name_do_not_see_each_other(tmp_path):
    two, three = _package(tmp_path / "02_x", "two"), _package(tmp_path / "03_x", "three")
    with stage_imports(two):
        assert import_from_stage("app.main", two).MARKER == "two"
    assert "app" not in sys.modules and "app.main" not in sys.modules
    with stage_imports(three):
        assert import_from_stage("app.main", three).MARKER == "three"
    assert str(three) not in sys.path


def test_each_load_sees_the_current_file(tmp_path):
    stage = _package(tmp_path / "02_x", "before")
    with stage_imports(stage):
        import_from_stage("app.main", stage)
    (stage / "app" / "main.py").write_text("MARKER = 'after'\n")
    with stage_imports(stage):
        assert import_from_stage("app.main", stage).MARKER == "after"


def test_a_module_of_the_same_name_from_elsewhere_is_put_back(tmp_path, monkeypatch):
    outsider = type(sys)("posts")
    monkeypatch.setitem(sys.modules, "posts", outsider)
    stage = tmp_path / "01_x"
    stage.mkdir()
    (stage / "posts.py").write_text("WHO = 'student'\n")
    with stage_imports(stage):
        assert import_from_stage("posts", stage).WHO == "student"
    assert sys.modules["posts"] is outsider


def test_target_cannot_take_over_the_harness_or_stdlib(tmp_path):
    stage = tmp_path / "01_x"
    (stage / "checks").mkdir(parents=True)
    (stage / "checks" / "__init__.py").write_text("HIJACKED = True\n")
    (stage / "json.py").write_text("HIJACKED = True\n")
    (stage / "posts.py").write_text("import checks, json\nSEEN = (hasattr(checks, 'HIJACKED'), hasattr(json, 'HIJACKED'))\n")
    with stage_imports(stage):
        assert import_from_stage("posts", stage).SEEN == (False, False)
    assert not hasattr(sys.modules["checks"], "HIJACKED")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def broken(:\n    pass\n", "posts.py:1: SyntaxError"),
        ("x = 1\nraise RuntimeError('boom at import')\n", "posts.py:2: RuntimeError: boom at import"),
        ("import sys\nsys.exit(3)\n", "posts.py:2: the code called exit(3)"),
        ("import no_such_module_here\n", "posts.py:1: ModuleNotFoundError"),
        ("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 5120\n", "posts.py:1: the file is a Git LFS pointer, not the code"),
    ],
)
def test_import_errors_name_the_file_and_line(tmp_path, source, expected):
    stage = tmp_path / "01_x"
    stage.mkdir()
    (stage / "posts.py").write_text(source)
    with stage_imports(stage), pytest.raises(StudentCodeError) as info:
        import_from_stage("posts", stage)
    assert expected in str(info.value)


def test_code_without_a_file_is_never_placed_in_the_stage(tmp_path, monkeypatch):
    """A frame of ``<frozen importlib._bootstrap>`` is not a file of the stage, even when the
    stage is the working folder (as in a sandbox): a null byte in the source has no line."""
    stage = tmp_path / "01_x"
    stage.mkdir()
    (stage / "posts.py").write_bytes(b"x = 1\x00\n")
    monkeypatch.chdir(stage)
    with stage_imports(stage), pytest.raises(StudentCodeError) as info:
        import_from_stage("posts", stage)
    assert "<frozen" not in str(info.value) and "null bytes" in str(info.value)


def test_missing_file_is_named(tmp_path):
    stage = tmp_path / "01_x"
    stage.mkdir()
    with stage_imports(stage), pytest.raises(StudentCodeError, match=r"posts\.py is missing"):
        import_from_stage("posts", stage)


def _ship_bytecode(source: Path, of: Path, checked: bool) -> None:
    """Put in ``source``'s ``__pycache__`` the bytecode of ``of``, where Python looks for it:
    an unchecked-hash .pyc (never compared with the source), or a timestamp one that records
    ``source``'s own mtime and size."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.parent.mkdir(exist_ok=True)
    code = marshal.dumps(compile(of.read_bytes(), str(source), "exec"))
    if checked:
        stat = source.stat()
        header = struct.pack("<4sIII", importlib.util.MAGIC_NUMBER, 0, int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF)
    else:
        header = struct.pack("<4sI8s", importlib.util.MAGIC_NUMBER, 0b01, b"\0" * 8)  # hash-based, not checked
    cached.write_bytes(header + code)


def test_bytecode_shipped_next_to_the_code_is_never_what_is_graded(tmp_path, starter, run_checks, graded):
    """The committed starter, shipped with the solution's bytecode for its modules (stage 01's
    posts.py and main.py; stage 03's revisions, whose .py files are empty), of both kinds: it
    earns no check that the plain starter does not."""
    labs = tmp_path / "labs"
    shutil.copytree(starter, labs)
    solutions = REPO_ROOT / "solutions"
    for name, checked in (("posts.py", False), ("main.py", True)):
        _ship_bytecode(labs / "01_psycopg2" / name, solutions / "01_psycopg2" / name, checked)
    for number, revision in enumerate(sorted((solutions / "03_alembic" / "versions").glob("0*.py"))):
        empty = labs / "03_alembic" / "versions" / revision.name
        empty.write_text('"""Nothing here."""\n')
        _ship_bytecode(empty, revision, checked=number % 2 == 1)
    for stage in ("01", "03"):
        earned = {check for check, result in run_checks(labs, stage).items() if result.status == "passed"}
        honest = {check for check, result in graded(str(starter), stage).items() if result.status == "passed"}
        assert earned <= honest, f"stage {stage}: the shipped bytecode passed {sorted(earned - honest)}"
