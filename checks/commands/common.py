"""What every command shares: stage selection and set-up checks."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..registry import (
    REPO_ROOT,
    Stage,
    display_path,
    find_labs,
    find_stage,
    load_stages,
)
from . import COMMANDS


def resolve_target(value: str) -> Path:
    """``labs``/``solutions`` name the workbook's folders; anything else is a path, and a copy of
    a student's repository (a folder whose ``labs/`` holds the stage folders) means its ``labs/``,
    as ``grade`` reads it."""
    named = REPO_ROOT / value
    path = (named if value in ("labs", "solutions") else Path(value)).expanduser().resolve()
    return find_labs(path, load_stages()) or path


def add_target_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", help="labs (default; in a stage folder, the folder that holds it), solutions, or a path: a copy of labs/, of a student's repository (its labs/) or of one stage folder"
    )


def seconds(text: str) -> float:
    """argparse type of a time limit: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a time limit; give a number of seconds above 0")
    return value


def at_least_one(text: str) -> int:
    """argparse type of how many at once: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is too few; give 1 or more")
    return value


def checks_folder(text: str) -> Path:
    """argparse type of ``--extra-checks``: a folder laid out like ``checks/`` (``stageNN/stage.toml``)."""
    folder = Path(text).expanduser().resolve()
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    if not any(folder.glob("stage*/stage.toml")):
        raise argparse.ArgumentTypeError(f"{text} holds no stageNN/stage.toml; lay it out like checks/ (stage02/stage.toml next to its test_*.py)")
    try:
        ids = {stage.id for stage in load_stages(folder)}
    except (ValueError, KeyError, TypeError) as exc:  # TOML syntax, a missing key, a wrong type
        raise argparse.ArgumentTypeError(f"{text}: a stage.toml cannot be read ({type(exc).__name__}: {exc}); compare it with checks/stage01/stage.toml") from None
    known = {stage.id for stage in load_stages()}
    if not ids & known:
        raise argparse.ArgumentTypeError(f"{text} has checks for stage {', '.join(sorted(ids))}, and the workbook's stages are {', '.join(sorted(known))}")
    return folder


def file_to_write(text: str) -> Path:
    """argparse type of a file a command writes: its folder must exist (checked before any work)."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; name a file")
    if not path.resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: the folder {path.resolve().parent} does not exist")
    return path


def confirmed(question: str) -> bool:
    """Ask a yes/no question on the terminal; no unless the answer is y or yes (end of input is no)."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def select_stages(ids: Sequence[str]) -> list[Stage]:
    """The stages named on the command line (as :func:`stage_named` reads them), each once (all
    when none are), or a UsageError."""
    if not ids:
        return list(load_stages())
    selected: dict[str, Stage] = {}
    for name in ids:
        try:
            stage = find_stage(stage_named(name)[0])
        except KeyError:
            valid = ", ".join(f"{s.id} ({s.title})" for s in load_stages())
            raise UsageError(f"unknown stage {name!r}; valid stages: {valid}; commands: {', '.join(COMMANDS)} (python -m checks --help says more)") from None
        selected.setdefault(stage.id, stage)
    return list(selected.values())


@dataclass(frozen=True)
class Selection:
    """The stages and the target a command checks; ``note`` says what the working directory chose."""

    stages: list[Stage]
    target: str
    note: str = ""


def stage_in_folder(name: str) -> Stage | None:
    """The stage whose folder is called ``name`` (``02_orm_crud``), if any."""
    return next((stage for stage in load_stages() if stage.folder == name), None)


def stage_folder_here() -> tuple[Stage, Path] | None:
    """The stage folder of a ``labs/`` or ``solutions/`` (of this workbook or any copy) that holds
    the working directory, and its stage."""
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        stage = stage_in_folder(folder.name)
        if stage is not None and folder.parent.name in ("labs", "solutions"):
            return stage, folder
    return None


def target_stage_folder(target: str | None) -> tuple[Stage, Path] | None:
    """When ``--target`` names a stage folder (``labs/01_psycopg2``) instead of the folder that
    holds the stage folders: that stage, and the folder."""
    if not target:
        return None
    path = resolve_target(target)
    stage = stage_in_folder(path.name)
    if stage is not None and path.is_dir() and not any((path / other.folder).is_dir() for other in load_stages()):
        return stage, path
    return None


def stage_named(arg: str) -> tuple[str, Path | None]:
    """A stage as a student may name it: ``02``, ``2``, ``stage02``, its folder ``02_orm_crud``, or
    a path to that folder (``labs/02_orm_crud/``, tab-completed; or the folder's name where it
    lies), whose parent is then the target. The stage id, and that parent."""
    path = Path(arg)
    for folder in (path, *path.parents)[:3] if path.is_dir() else (path,):  # labs/02_orm_crud/app: tab-completed one too far
        stage = stage_in_folder(folder.name)
        if stage is not None:
            return stage.id, folder.resolve().parent if len(folder.parts) > 1 or folder.is_dir() else None
    return arg[len("stage"):] if arg.lower().startswith("stage") else arg, None


def select(ids: Sequence[str], target: str | None) -> Selection:
    """The stages and the target given on the command line. What is not given comes from the stage
    folder the command runs in (``labs/02_orm_crud`` or below: stage 02 of that ``labs/``), or else
    is every stage and the workbook's ``labs/``. A stage given as a path to its folder names the
    target too; a ``--target`` that is a stage folder means its stage (unless others are named) of
    the folder that holds it."""
    given_folder = target_stage_folder(target)
    if given_folder is not None:  # --target labs/01_psycopg2: that stage (unless others are named) of labs/
        ids, target = list(ids) or [given_folder[0].id], str(given_folder[1].parent)
    named = {arg: stage_named(arg)[1] for arg in ids}  # the folder holding a stage named by its path
    if missing := [arg for arg, folder in named.items() if folder is not None and not Path(arg).is_dir()]:
        raise UsageError(f"no folder {missing[0]}; name a stage (01, 02 or 03) or the path to a stage folder")
    folders = {folder for folder in named.values() if folder is not None}
    if folders:
        given = {resolve_target(target)} if target else set()
        if len(folders | given) > 1:
            raise UsageError(f"the stages named lie in different folders ({', '.join(sorted(map(str, folders | given)))}); check one at a time")
        target = str(folders.pop())
    if given_folder is not None:
        stages = select_stages(ids)
        note = f"{display_path(given_folder[1])} is a stage folder: checking {_stages_text(stages)} of {display_path(target)}"
        return Selection(stages, target, note)
    here = stage_folder_here()
    if here is None or (ids and target):
        return Selection(select_stages(ids), target or "labs")
    stage, folder = here
    stages = select_stages(ids or [stage.id])
    note = f"In {folder.parent.name}/{folder.name}: checking {_stages_text(stages)} of {target or folder.parent.name} (name stages or use --target to check others)"
    return Selection(stages, target or str(folder.parent), note)


def _stages_text(stages: Sequence[Stage]) -> str:
    return f"stage{'s' if len(stages) > 1 else ''} {', '.join(s.id for s in stages)}"


# The options of the checking commands that take the next argument as their value (``-k 02`` names no stage).
VALUE_OPTIONS = frozenset({"-k", "--target", "--timeout", "--json-file", "--extra-checks"})


def likely_stages(args: Sequence[str]) -> list[Stage]:
    """The stages a checking command's arguments most likely select, before they are parsed (the
    stage ids among them, else the stage folder it runs in, else all): what its subject host
    preloads the libraries of. A wrong guess costs time, never a result."""
    known = {stage.id for stage in load_stages()}
    named = [stage_named(arg)[0] for before, arg in zip(["", *args], args) if not arg.startswith("-") and before not in VALUE_OPTIONS]
    return select([stage_id for stage_id in named if stage_id in known], None).stages


def prepare(target_name: str) -> Path:
    """Find the target and the database server, or raise SetupError/UsageError."""
    # Imported here: the CLI reads the stage selection (likely_stages) before its heavy imports.
    from ..db.server import get_server

    target = resolve_target(target_name)
    if not target.is_dir():
        raise UsageError(f"target {target} is not a folder; use --target labs, solutions or a path to a copy of labs/")
    get_server()
    return target
