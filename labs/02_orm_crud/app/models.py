"""ORM models."""

from sqlalchemy import String  # noqa: F401 - you will need it in step 3
from sqlalchemy.orm import Mapped, mapped_column

from .database import Base


class User(Base):
    __tablename__ = "users"

    # TODO (step 3): give email and username their lengths, make them unique and indexed.
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    username: Mapped[str]
