"""add is_active to users

NOT NULL on a table that has rows needs a value for every row: the server default gives one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "is_active")
