"""Loading a target's code: each stage fresh and isolated, errors as file:line."""

import sys

import pytest

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
    ],
)
def test_import_errors_name_the_file_and_line(tmp_path, source, expected):
    stage = tmp_path / "01_x"
    stage.mkdir()
    (stage / "posts.py").write_text(source)
    with stage_imports(stage), pytest.raises(StudentCodeError) as info:
        import_from_stage("posts", stage)
    assert expected in str(info.value)


def test_missing_file_is_named(tmp_path):
    stage = tmp_path / "01_x"
    stage.mkdir()
    with stage_imports(stage), pytest.raises(StudentCodeError, match=r"posts\.py is missing"):
        import_from_stage("posts", stage)
