"""Engine, session factory, declarative base and the session dependency."""

import os
from collections.abc import Iterator

from dotenv import load_dotenv
from sqlalchemy import MetaData, create_engine  # noqa: F401 - MetaData is for step 1
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

load_dotenv()

engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
)

SessionLocal = sessionmaker(bind=engine, autocommit=False, autoflush=False)


# TODO (step 1): name constraints and indexes predictably, so migrations can refer to them.
class Base(DeclarativeBase):
    """Base class of every ORM model."""


def get_db() -> Iterator[Session]:
    """A session per request, closed when the request is done, whatever happened."""
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
