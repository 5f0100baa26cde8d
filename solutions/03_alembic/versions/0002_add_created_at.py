"""add created_at to users

Existing rows get the time of the migration: the server default fills them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "created_at")
