"""Throwaway databases live in memory (the embedded server's tablespace under /dev/shm); the
student's own ``workbook`` database stays on disk; after a restart the folder is made again."""

import shutil
import stat
from pathlib import Path

import pytest

from checks.db import scratch
from checks.db.server import Server
from checks.db.throwaway import create_database

pytestmark = pytest.mark.skipif(
    scratch.folder_for(Path("pgdata")) is None or not scratch.has_room(), reason="no /dev/shm with room on this machine"
)

TABLESPACE_OF = (
    "SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = %s"
)


def test_a_throwaway_database_is_made_in_the_tablespace_in_memory(lab_server: Server):
    assert lab_server.tablespace == scratch.TABLESPACE
    database = create_database(lab_server, purpose="test")
    conn = lab_server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(TABLESPACE_OF, (database.name,))
            assert cur.fetchone() == (scratch.TABLESPACE,)
            cur.execute("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = %s", (scratch.TABLESPACE,))
            (location,) = cur.fetchone()
    finally:
        conn.close()
        database.drop()
    assert location.startswith(f"{scratch.SHARED_MEMORY}/")
    for folder in (Path(location), Path(location).parent):  # its own folder, in its data directory's
        if folder != scratch.SHARED_MEMORY:
            info = folder.lstat()
            assert stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077  # nobody but the server's user may enter


def test_after_a_restart_the_folder_in_memory_is_made_again_and_the_workbook_database_stays_on_disk(cache_dir, embedded_env, run_cli):
    env = embedded_env(cache_dir)
    check = ("01", "--target", "solutions", "-k", "connect")
    assert run_cli(*check, env=env).returncode == 0
    folder = scratch.folder_for(cache_dir / "pgdata-18")
    assert folder is not None and folder.is_dir()
    try:
        shutil.rmtree(folder)  # what a restart of the machine does to /dev/shm (the run stopped the server)
        proc = run_cli(*check, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert folder.is_dir()
        assert run_cli("db", "start", env=env).returncode == 0
        proc = run_cli("db", "psql", "-tA", "-c", TABLESPACE_OF.replace("%s", "current_database()"), env=env)
        assert proc.stdout.strip() == "pg_default", proc.stdout + proc.stderr
    finally:
        run_cli("db", "stop", env=env)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_folder_of_someone_else_in_its_place_is_not_used(cache_dir, embedded_env, run_cli):
    folder = scratch.folder_for(cache_dir / "pgdata-18")
    folder.mkdir(mode=0o777)  # made first by another user, say: open to all
    folder.chmod(0o777)
    try:
        env = embedded_env(cache_dir)
        proc = run_cli("01", "--target", "solutions", "-k", "connect", env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not any(folder.iterdir())  # the runs' databases went to the data directory instead
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_data_directory_deleted_and_made_anew_gets_its_folder_in_memory_anew(cache_dir, embedded_env, run_cli):
    """Deleting the data directory to start afresh (as an error message may advise) leaves the
    old server's folder in /dev/shm, which PostgreSQL refuses to take as a new tablespace: the
    new server gets a folder of its own, and the old one's is removed."""
    env = embedded_env(cache_dir)
    check = ("01", "--target", "solutions", "-k", "connect")
    folder = scratch.folder_for(cache_dir / "pgdata-18")
    try:
        assert run_cli(*check, env=env).returncode == 0
        before = set(folder.iterdir())
        shutil.rmtree(cache_dir / "pgdata-18")  # the run stopped the server
        proc = run_cli(*check, env=env)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        after = set(folder.iterdir())
        assert len(after) == 1 and not after & before, (before, after)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
