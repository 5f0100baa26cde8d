"""Engine, session factory, declarative base and the session dependency."""

import os
from collections.abc import Iterator

from dotenv import load_dotenv
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

load_dotenv()

# TODO (step 2): make the pool explicit: pool_size=5, max_overflow=10, pool_pre_ping=True.
engine = create_engine(os.environ["DATABASE_URL"])

# TODO (step 2): turn autocommit and autoflush off.
SessionLocal = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    """Base class of every ORM model."""


def get_db() -> Iterator[Session]:
    """A session per request, closed when the request is done, whatever happened."""
    # TODO (step 2): yield a session and always close it.
    raise NotImplementedError("TODO step 2: yield a session and always close it")
