"""A copy's side of a check: answer the checker's requests about the target's code.

Requests (JSON, see :mod:`.protocol`) and what they answer:

- ``call``: call ``target`` (``"module:attr.path"`` or a handle) with decoded arguments;
- ``get``/``set``: the value of ``target`` / give it a new one;
- ``connect``: a plain psycopg2 connection to ``DATABASE_URL`` (for functions that take one);
- ``sql``: run a statement on a connection handle with a plain cursor, answer the rows;
- ``http``/``app``: requests to the app in a module, or start/stop its lifespan;
- ``alembic``: revisions, heads, bases, upgrade, downgrade or drift of the stage's revisions.

Every answer is ``{"ok": value}`` or ``{"error": {"message": ..., "where": ...}}``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from .loader import describe_exception
from .protocol import Channel, decode, encode


class HarnessError(Exception):
    """A request the copy cannot carry out (not the target's fault)."""


class Copy:
    """The state one check builds up in its copy: handles, spies, started apps, migrations."""

    def __init__(self, stage_dir: Path, import_errors: dict[str, str], alembic_dir: Path | None) -> None:
        self.stage_dir = stage_dir
        self.import_errors = import_errors
        self.alembic_dir = alembic_dir
        self.handles: dict[int, Any] = {}
        self.apps = None
        self.migrations = None

    # -- values --------------------------------------------------------------------------
    def keep(self, value: Any) -> int:
        number = len(self.handles) + 1
        self.handles[number] = value
        return number

    def resolve(self, data: dict) -> Any:
        if "$handle" in data:
            try:
                return self.handles[int(data["$handle"])]
            except (KeyError, ValueError):
                raise HarnessError(f"no handle {data['$handle']!r}") from None
        return self.lookup(str(data["$ref"]))

    def module(self, name: str) -> Any:
        if name in self.import_errors:
            raise ImportFailed(self.import_errors[name])
        return importlib.import_module(name)

    def lookup(self, target: str) -> Any:
        module_name, _, path = target.partition(":")
        value = self.module(module_name)
        for part in filter(None, path.split(".")):
            value = getattr(value, part)
        return value

    # -- requests ------------------------------------------------------------------------
    def handle(self, request: dict) -> Any:
        method = getattr(self, f"op_{request.get('op')}", None)
        if method is None:
            raise HarnessError(f"unknown request {request.get('op')!r}")
        return method({key: decode(value, self.resolve) for key, value in request.items()})

    def op_call(self, request: dict) -> Any:
        target = request["target"]
        function = self.lookup(target) if isinstance(target, str) else target
        return function(*request.get("args", []), **request.get("kwargs", {}))

    def op_get(self, request: dict) -> Any:
        return self.lookup(request["target"])

    def op_set(self, request: dict) -> None:
        module, _, path = request["target"].partition(":")
        owner, _, name = path.rpartition(".")
        setattr(self.lookup(f"{module}:{owner}"), name, request["value"])

    def op_connect(self, request: dict) -> Any:
        import psycopg2

        return psycopg2.connect(os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1))

    def op_sql(self, request: dict) -> Any:
        import psycopg2.extensions

        conn = self.resolve({"$handle": request["handle"]})
        with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
            cur.execute(request["sql"], request.get("params") or None)
            return cur.fetchall() if cur.description else None

    def _apps(self):
        if self.apps is None:
            from .http import Apps

            self.apps = Apps(self.stage_dir)
        return self.apps

    def op_app(self, request: dict) -> None:
        apps, name = self._apps(), request["module"]
        if request["action"] == "start":
            apps.start(self.module(name), name)
        else:
            apps.stop(name)

    def op_http(self, request: dict) -> dict:
        apps, name = self._apps(), request["module"]
        return apps.request(apps.start(self.module(name), name), request["method"], request["url"], request)

    def op_alembic(self, request: dict) -> Any:
        if self.migrations is None:
            from .migrations import Migrations

            if self.alembic_dir is None:
                raise HarnessError("this subject was started without --alembic-dir")
            metadata = self.lookup(request.get("metadata", "app.models:User.metadata"))
            self.migrations = Migrations(self.alembic_dir, self.stage_dir, os.environ["DATABASE_URL"], metadata)
        migrations, action = self.migrations, request["action"]
        if action != "drift":
            migrations.read()
        if action in ("upgrade", "downgrade"):
            getattr(migrations, action)(request["revision"])
            return None
        if action == "revisions":
            return migrations.revisions()
        if action == "heads":
            return list(migrations.script.get_heads())
        if action == "bases":
            return list(migrations.script.get_bases())
        if action == "drift":
            return [repr(diff) for diff in migrations.drift()]
        raise HarnessError(f"unknown alembic action {action!r}")


class ImportFailed(Exception):
    """A module of the stage failed to import in the zygote; the message says where and why."""


def serve(channel: Channel, stage_dir: Path, import_errors: dict[str, str], alembic_dir: Path | None) -> None:
    copy = Copy(stage_dir, import_errors, alembic_dir)
    while (request := channel.receive()) is not None:
        try:
            answer = {"ok": encode(copy.handle(request), copy.keep)}
        except ImportFailed as exc:
            answer = {"error": {"message": str(exc), "where": None, "import": True}}
        except HarnessError as exc:
            answer = {"error": {"message": str(exc), "where": None, "harness": True}}
        except BaseException as exc:  # SystemExit too: the target's code must not end the copy silently
            message, where = describe_exception(exc, stage_dir)
            kinds = [f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__]
            answer = {"error": {"message": message, "where": where, "kinds": kinds}}
        channel.send(answer)
