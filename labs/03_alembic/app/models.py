"""ORM models."""

from datetime import datetime  # noqa: F401 - for step 3

from sqlalchemy import DateTime, String, text  # noqa: F401 - DateTime and text are for steps 3 and 4
from sqlalchemy.orm import Mapped, mapped_column

from .database import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    username: Mapped[str] = mapped_column(String(50), unique=True, index=True)
    # TODO (step 3): when the row was created, filled in by PostgreSQL.
    # TODO (step 4): new users are active; the server default also fills existing rows.
