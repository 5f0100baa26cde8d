"""Running a target's Alembic revisions in-process, against the check's throwaway database.

The migration environment is always the workbook's own ``alembic/`` folder; only the revision
files (``<stage>/versions``) and the models come from the target.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, pool, text

from checks.registry import REPO_ROOT


class Migrations:
    """Alembic's ``command`` API on one database, one short transaction per command."""

    def __init__(self, stage_dir: Path, url: str, metadata: MetaData) -> None:
        self.metadata = metadata
        self.engine = create_engine(url, poolclass=pool.NullPool)
        self.config = Config()
        self.config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
        self.config.set_main_option("version_locations", str(stage_dir / "versions"))
        self.config.set_main_option("path_separator", "os")
        self.config.attributes["target_metadata"] = metadata

    @property
    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config)

    def revisions(self) -> list[str]:
        """Revision ids from the base up (the graph must be linear)."""
        return [script.revision for script in reversed(list(self.script.walk_revisions()))]

    def _run(self, action, *args) -> None:
        with self.engine.begin() as connection:
            self.config.attributes["connection"] = connection
            try:
                action(self.config, *args)
            finally:
                del self.config.attributes["connection"]

    def upgrade(self, revision: str = "head") -> None:
        self._run(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        self._run(command.downgrade, revision)

    def columns(self, table: str = "users") -> dict[str, dict]:
        """Columns of ``table`` as the database has them ({} when there is no such table)."""
        inspector = inspect(self.engine)
        if not inspector.has_table(table):
            return {}
        return {column["name"]: column for column in inspector.get_columns(table)}

    def drift(self) -> list:
        """What autogenerate would still change to make the database match the models."""
        with self.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, self.metadata)

    def execute(self, sql: str, params: dict | list | None = None) -> list:
        with self.engine.begin() as connection:
            result = connection.execute(text(sql), params or {})
            return result.fetchall() if result.returns_rows else []
