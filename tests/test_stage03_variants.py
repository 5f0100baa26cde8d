"""Stage 03: other correct migration styles pass every check; typical mistakes fail their own check."""

import pytest

from checks.registry import find_stage

ALL_CHECKS = {check.id for check in find_stage("03").checks}
V2, V3 = "versions/0002_add_created_at.py", "versions/0003_add_is_active.py"

RAW_SQL_CREATED_AT = '''"""add created_at, written by hand in SQL"""
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.execute("ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now()")


def downgrade():
    op.execute("ALTER TABLE users DROP COLUMN created_at")
'''

BACKFILL_IS_ACTIVE = '''"""add is_active: nullable first, backfill, then NOT NULL"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"


def upgrade():
    op.add_column("users", sa.Column("is_active", sa.Boolean(), nullable=True))
    op.execute("UPDATE users SET is_active = true")
    op.alter_column("users", "is_active", nullable=False, server_default=sa.text("true"))


def downgrade():
    op.drop_column("users", "is_active")
'''

SECOND_HEAD = '''"""a second child of 0002"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0002"


def upgrade():
    op.create_index("ix_users_created_at", "users", ["created_at"])


def downgrade():
    op.drop_index("ix_users_created_at", table_name="users")
'''

ALTERNATIVES = {
    "hand-written SQL for created_at": {"files": {V2: RAW_SQL_CREATED_AT}},
    "is_active added nullable, backfilled, then NOT NULL": {"files": {V3: BACKFILL_IS_ACTIVE}},
}

MISTAKES = {
    "both columns in one revision": (
        {
            "replace": {V2: [('    )\n\n\ndef downgrade', '    )\n    op.add_column("users", sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False))\n\n\ndef downgrade'),
                             ('    op.drop_column("users", "created_at")', '    op.drop_column("users", "is_active")\n    op.drop_column("users", "created_at")')]},
            "delete": [V3],
        },
        "columns_arrive_one_revision_each",
    ),
    "nullable new columns": (
        {
            "replace": {
                V2: [("nullable=False", "nullable=True")],
                V3: [("nullable=False", "nullable=True")],
                "app/models.py": [("created_at: Mapped[datetime]", "created_at: Mapped[datetime | None]"), ("is_active: Mapped[bool]", "is_active: Mapped[bool | None]")],
            }
        },
        "new_columns_have_types_and_defaults",
    ),
    "a Python-side default only": (
        {
            "replace": {
                V3: [('sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False)', 'sa.Column("is_active", sa.Boolean(), nullable=False)')],
                "app/models.py": [('mapped_column(server_default=text("true"))', "mapped_column(default=True)")],
            }
        },
        "existing_rows_survive_the_upgrade",
    ),
    "an empty downgrade": (
        {"replace": {V3: [('    op.drop_column("users", "is_active")', "    pass")]}},
        "downgrade_one_step_removes_only_is_active",
    ),
    "a second head": ({"files": {"versions/0004_index_created_at.py": SECOND_HEAD}}, "revisions_form_one_line"),
    "the model changed without a revision": (
        {"replace": {"app/models.py": [("    # Step 3:", "    bio: Mapped[str | None] = mapped_column(String(200))\n    # Step 3:")]}},
        "upgrade_head_matches_the_model",
    ),
    "the baseline edited to add created_at": (
        {
            "replace": {
                "versions/0001_create_users_table.py": [
                    ('        sa.Column("username", sa.String(length=50), nullable=False),\n',
                     '        sa.Column("username", sa.String(length=50), nullable=False),\n        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),\n')
                ],
                V3: [('down_revision = "0002"', 'down_revision = "0001"')],
            },
            "delete": [V2],
        },
        "baseline_is_the_stage_2_table",
    ),
    "create_all left in the app": (
        {"replace": {"app/main.py": [('app = FastAPI(title="Users (SQLAlchemy ORM + Alembic)")', 'app = FastAPI(title="Users")\nfrom .database import Base, engine\nBase.metadata.create_all(bind=engine)')]}},
        "app_leaves_the_schema_to_alembic",
    ),
}


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_other_correct_styles_pass_every_check(name, run_checks, make_target):
    results = run_checks(make_target("03", **ALTERNATIVES[name]), "03")
    assert set(results) == ALL_CHECKS
    assert {check: r.reason for check, r in results.items() if r.status != "passed"} == {}


@pytest.mark.parametrize("name", MISTAKES)
def test_typical_mistakes_fail_their_check(name, run_checks, make_target):
    edits, intended = MISTAKES[name]
    results = run_checks(make_target("03", **edits), "03")
    assert results[intended].status == "failed", f"{name!r} should fail {intended}"
    assert results["metadata_has_a_naming_convention"].status == "passed", "an unrelated check failed: the variant is broken"
