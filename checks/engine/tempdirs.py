"""The grader's temporary folders (a student's private copy, a subject host's, a subject's, a
relay's exchange folder).

Each one in the temp folder is named after the process that made it (``lab<kind>-<pid>-…``) and
removed by that process when it is done. A process killed before that leaves it behind; the next
run (and a batch of submissions, as it ends) removes the folders of this user's processes that no
longer run (:func:`remove_stale`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

KINDS = ("grade", "host", "subject", "exchange")
STALE = re.compile(rf"lab(?:{'|'.join(KINDS)})-(\d+)-")  # a folder of ours in the temp folder: its process's pid


def prefix(kind: str) -> str:
    """The name prefix of this process's ``kind`` of folder (one of :data:`KINDS`) in the temp folder."""
    assert kind in KINDS, kind
    return f"lab{kind}-{os.getpid()}-"


def make(kind: str, inside: Path | None = None) -> Path:
    """A new folder, private to this user: ``lab<kind>-…`` in ``inside`` (removed with it), else in
    the temp folder, named after this process."""
    if inside is not None:
        return Path(tempfile.mkdtemp(prefix=f"lab{kind}-", dir=inside))
    return Path(tempfile.mkdtemp(prefix=prefix(kind)))


def remove_stale() -> None:
    """Remove the temp folder's ``lab<kind>-<pid>-…`` folders of this user whose process is gone
    (or a zombie: killed, not yet reaped)."""
    # Imported here: the CLI imports this module (through the subject host) before its database layer.
    from ..db.server import process_alive

    for path in Path(tempfile.gettempdir()).iterdir():
        ours = STALE.match(path.name)
        try:
            if not ours or process_alive(int(ours[1])) or path.is_symlink() or path.stat().st_uid != os.geteuid():
                continue
        except OSError:  # removed meanwhile
            continue
        shutil.rmtree(path, ignore_errors=True)
