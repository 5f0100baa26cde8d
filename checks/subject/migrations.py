"""Running a target's Alembic revisions with Alembic's own API, next to its models.

The migration environment is always the workbook's own ``alembic/`` folder; only the revision
files (``<stage>/versions``) and the models come from the target. Each copy reads the revision
files once, for all its commands; never the zygote, which runs no student code but the stage's
import (a revision file that hangs as it loads costs only the checks that run revisions).
"""

from __future__ import annotations

import logging.config  # noqa: F401  (the workbook's env.py imports it: once, in the zygote)
from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState


def fresh_session(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, state: PoolResetState) -> None:
    """Reset a connection given back to the pool as if it were a new one (``DISCARD ALL``):
    nothing a revision set for its session (a setting, a temporary table, a lock) outlives it."""
    dbapi_connection.rollback()
    if state.terminate_only:
        return
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")
    dbapi_connection.autocommit = False


class Migrations:
    """Upgrade, downgrade and drift on one database: each command one short transaction, on the
    copy's one connection, which starts every command as a new session would."""

    def __init__(self, alembic_dir: Path, stage_dir: Path, url: str, metadata: MetaData) -> None:
        self.metadata = metadata
        self.config = Config()
        self.config.set_main_option("script_location", str(alembic_dir))
        self.config.set_main_option("version_locations", str(stage_dir / "versions"))
        self.config.set_main_option("path_separator", "os")
        self.config.attributes["target_metadata"] = metadata
        self.script = ScriptDirectory.from_config(self.config)  # reads the revision files once, on first use
        self.engine = create_engine(url, pool_size=1, pool_reset_on_return=None)
        event.listen(self.engine, "reset", fresh_session)

    def read(self) -> None:
        """Read the revision files into Alembic's graph (once): a ``down_revision`` that no file
        holds is named, where Alembic raises a bare ``KeyError``."""
        try:
            self.script.revision_map.heads  # noqa: B018  (built on first use)
        except KeyError as exc:
            raise LookupError(
                f"no revision {exc.args[0]!r} in versions/, yet a revision names it as its down_revision "
                "(revision files in folders below versions/ are not read)"
            ) from None

    def revisions(self) -> list[str]:
        """Revision ids from the base up (the graph must be linear)."""
        return [script.revision for script in reversed(list(self.script.walk_revisions()))]

    def _run(self, destination: str, steps: Callable[[tuple[str, ...], MigrationContext], list]) -> None:
        """Run the workbook's ``env.py`` on the copy's connection, as ``alembic upgrade`` or
        ``downgrade`` would: ``steps(current, context)`` lists the revisions to apply."""
        with self.engine.begin() as connection:
            self.config.attributes["connection"] = connection
            try:
                with EnvironmentContext(self.config, self.script, fn=steps, destination_rev=destination):
                    self.script.run_env()
            finally:
                del self.config.attributes["connection"]

    def upgrade(self, revision: str = "head") -> None:
        self._run(revision, lambda current, context: self.script._upgrade_revs(revision, current))

    def downgrade(self, revision: str) -> None:
        self._run(revision, lambda current, context: self.script._downgrade_revs(revision, current))

    def drift(self) -> list:
        """What autogenerate would still change to make the database match the models."""
        with self.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, self.metadata)
