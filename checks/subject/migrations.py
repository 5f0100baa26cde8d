"""Running a target's Alembic revisions with Alembic's own ``command`` API, next to its models.

The migration environment is always the workbook's own ``alembic/`` folder; only the revision
files (``<stage>/versions``) and the models come from the target.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, pool

from alembic import command


class Migrations:
    """Alembic's ``command`` API on one database, one short transaction per command."""

    def __init__(self, alembic_dir: Path, stage_dir: Path, url: str, metadata: MetaData) -> None:
        self.metadata = metadata
        self.engine = create_engine(url, poolclass=pool.NullPool)
        self.config = Config()
        self.config.set_main_option("script_location", str(alembic_dir))
        self.config.set_main_option("version_locations", str(stage_dir / "versions"))
        self.config.set_main_option("path_separator", "os")
        self.config.attributes["target_metadata"] = metadata

    @cached_property
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

    def drift(self) -> list:
        """What autogenerate would still change to make the database match the models."""
        with self.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, self.metadata)
