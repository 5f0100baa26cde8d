"""Throwaway databases in memory: the embedded server's tablespace under ``/dev/shm``.

A new database is a copy of about 300 files, and every check creates and drops tables: file
work that a database dropped minutes later gains nothing from on disk. (On a disk that is slow
to create files after many deletions, such as an ext4 without a journal, one ``CREATE
DATABASE`` took 220 ms of the server's CPU; in memory it takes about 15 ms.) Where
``/dev/shm`` exists (Linux), the embedded server gets a tablespace there, in a folder of its
own that only the server's user may enter (one per data directory, and in it one per server,
named by its system identifier: a data directory deleted and made again gets a new one), and
throwaway databases are made in it; the user's own databases (``workbook``) stay on disk.
After the machine restarts the folder is gone: it is made again when the server is next
prepared. With less than 1 GB free there (a
container's small ``/dev/shm``), the databases stay on disk. Any other server whose
``lab_scratch`` tablespace the role may create in (an instructor's, on a RAM disk, say) has its
throwaway databases made there too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

from psycopg2 import errors, sql

TABLESPACE = "lab_scratch"
SHARED_MEMORY = Path("/dev/shm")
# Less free than this (a container's 64 MB /dev/shm, say) and the databases stay on disk: a
# database is about 8 MB, a class graded with --jobs 8 holds two dozen at once.
MIN_FREE = 1 << 30


def folder_for(pgdata: Path) -> Path | None:
    """The tablespace's folder for the server of ``pgdata``, or None without ``/dev/shm``."""
    if not SHARED_MEMORY.is_dir() or not os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        return None
    digest = hashlib.sha256(str(pgdata.resolve()).encode()).hexdigest()[:16]
    return SHARED_MEMORY / f"sql-lab-{os.getuid()}-{digest}"


def has_room() -> bool:
    """Whether ``/dev/shm`` has room for the databases of a run or a class."""
    room = os.statvfs(SHARED_MEMORY)
    return room.f_bavail * room.f_frsize >= MIN_FREE


def _private_folder(path: Path, owner: int) -> bool:
    """Make ``path`` a folder of ``owner``'s that nobody else may enter; False if something else
    is in its place (a file, a link, or a folder of another user's)."""
    try:
        path.mkdir(mode=0o700)
        if os.getuid() == 0 and owner != 0:
            os.chown(path, owner, -1)
    except FileExistsError:
        pass
    except OSError:
        return False
    info = path.lstat()
    return stat.S_ISDIR(info.st_mode) and info.st_uid == owner and not info.st_mode & 0o077


def ensure(cur, pgdata: Path) -> str | None:
    """The name of the in-memory tablespace of the embedded server (superuser cursor, autocommit),
    made on first use and its folder made again after a restart; None where there is none."""
    place = folder_for(pgdata)
    if place is None or not has_room():
        return None
    owner = pgdata.stat().st_uid  # the server runs as the owner of its data directory
    cur.execute(
        "SELECT pg_tablespace_location(oid), format('PG_%%s_%%s', current_setting('server_version_num')::int / 10000, "
        "(SELECT catalog_version_no FROM pg_control_system())) FROM pg_tablespace WHERE spcname = %s",
        (TABLESPACE,),
    )
    row = cur.fetchone()
    if row is None:
        # A folder of this data directory's own: one deleted and made again at the same path
        # (a fresh start) finds what the old one left there, which PostgreSQL refuses to reuse.
        cur.execute("SELECT system_identifier FROM pg_control_system()")
        location = place / str(cur.fetchone()[0])
        if not _private_folder(place, owner):
            return None
        for left in place.iterdir():
            if left != location:
                shutil.rmtree(left, ignore_errors=True)
        if not _private_folder(location, owner):
            return None
        try:
            cur.execute(sql.SQL("CREATE TABLESPACE {} LOCATION %s").format(sql.Identifier(TABLESPACE)), (str(location),))
        except (errors.DuplicateObject, errors.UniqueViolation):
            pass  # another run made it first (UniqueViolation: at the same moment, on the catalog's index)
        except errors.ObjectInUse:
            return None  # the folder is taken after all: the databases stay on disk
        return TABLESPACE
    location, version = Path(row[0]), row[1]
    if (location / version).is_dir():
        return TABLESPACE
    # The machine restarted (or someone removed the folder): the folders the server expects, again.
    needed = [location, location / version]
    if location.parent != SHARED_MEMORY:
        needed.insert(0, location.parent)  # the folder of the data directory that holds it
    if all(_private_folder(folder, owner) for folder in needed):
        return TABLESPACE
    return None


def usable(cur) -> str | None:
    """The name of the server's ``lab_scratch`` tablespace if the current role may create in it."""
    cur.execute("SELECT has_tablespace_privilege(oid, 'CREATE') FROM pg_tablespace WHERE spcname = %s", (TABLESPACE,))
    row = cur.fetchone()
    return TABLESPACE if row and row[0] else None
