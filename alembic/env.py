"""Alembic's migration environment for stage 03.

From the command line it connects to ``DATABASE_URL`` and compares against the models of the
stage folder named in alembic.ini (``stage_folder``). The checks run it in-process instead and
hand over a connection and the target's metadata through ``config.attributes``; a caller that
keeps its own logging (a notebook) passes ``configure_logger=False`` there.
"""

import os
import sys
from logging.config import fileConfig

from alembic import context
from dotenv import load_dotenv
from sqlalchemy import create_engine, exc, pool

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def target_metadata():
    """The metadata Alembic compares with the database: given by the caller, or the stage's models."""
    if "target_metadata" in config.attributes:
        return config.attributes["target_metadata"]
    sys.path.insert(0, config.get_main_option("stage_folder"))
    from app.models import User

    return User.metadata


def database_url() -> str:
    load_dotenv()
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set: export the one `python -m checks db start` prints, or use docker compose")
    return url


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate leaves alone the tables the models do not know (stage 01's ``posts`` in a
    shared database, say): they never become a ``drop_table`` in a revision."""
    return not (type_ == "table" and reflected and compare_to is None)


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        compare_type=True,
        compare_server_default=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=target_metadata(), literal_binds=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
elif "connection" in config.attributes:  # shared by the caller, who owns its transaction
    run(config.attributes["connection"])
else:
    try:
        connection = create_engine(database_url(), poolclass=pool.NullPool).connect()
    except exc.OperationalError as error:  # one line, not a traceback: the server is down or the URL is wrong
        reason = " ".join(str(error.orig).split())
        raise SystemExit(f"cannot connect to DATABASE_URL ({reason}); start the server (`python -m checks db start`) or fix the URL") from None
    with connection:
        run(connection)
        connection.commit()
