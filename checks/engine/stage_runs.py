"""Every stage of a run at once: its own throwaway database and its own subject, started together.

A run starts every stage's subject before the first check, each on a database of its own, so
the stages import side by side (and while the first checks run) instead of one after another.
Before a stage's first check its subject must have finished importing: what the import made in
its database is noted (``tables_after_import``) before the database is emptied for the check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..db.server import Server
from ..db.throwaway import ThrowawayDatabase, create_database
from ..registry import Stage
from .subject import Subject


@dataclass
class StageRun:
    """One stage folder of the target: its database and the subject that imported it."""

    database: ThrowawayDatabase
    subject: Subject
    ready: bool = False

    def wait(self) -> Subject:
        """The subject, once its import is done (what it created in the database is noted)."""
        if not self.ready:
            self.subject.wait()
            if not self.subject.failure:
                self.subject.tables_after_import = self.database.tables()
            self.ready = True
        return self.subject


class StageRuns:
    """The run's stage folders, each with a database (owned by ``owner``) and a subject."""

    def __init__(
        self,
        server: Server,
        owner: str | None,
        url_for: Callable[[ThrowawayDatabase], str],
        make_subject: Callable[[Path, Stage, str], Subject],
    ) -> None:
        self.server = server
        self.owner = owner
        self.url_for = url_for
        self.make_subject = make_subject
        self.runs: dict[Path, StageRun] = {}

    def start(self, folders: Iterable[tuple[Path, Stage]]) -> None:
        """Create the databases of the stage folders not started yet (side by side), then launch
        their subjects; none is waited for."""
        new = {path: stage for path, stage in folders if path not in self.runs}
        with ThreadPoolExecutor(max_workers=max(1, len(new))) as pool:
            databases = list(pool.map(lambda _: create_database(self.server, purpose="check", owner=self.owner), new))
        for (path, stage), database in zip(new.items(), databases):
            self.runs[path] = StageRun(database, self.make_subject(path, stage, self.url_for(database)))
        for path in new:
            self.runs[path].subject.launch()

    def get(self, stage_dir: Path, stage: Stage) -> StageRun:
        """The run of a stage folder, started now if it was not."""
        if stage_dir not in self.runs:
            self.start([(stage_dir, stage)])
        return self.runs[stage_dir]

    def close(self) -> None:
        """Stop every subject, then drop every database."""
        for run in self.runs.values():
            run.subject.close()
        for run in self.runs.values():
            run.database.drop()
        self.runs.clear()

