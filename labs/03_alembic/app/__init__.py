"""The users API of stage 03: its schema is managed by Alembic."""
