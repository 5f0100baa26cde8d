"""Engine, session factory, declarative base and the session dependency."""

import os
from collections.abc import Iterator

from dotenv import load_dotenv
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

load_dotenv()

# Step 2: create the engine from DATABASE_URL with an explicit pool.
engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
)

SessionLocal = sessionmaker(bind=engine, autocommit=False, autoflush=False)


class Base(DeclarativeBase):
    """Base class of every ORM model."""


def get_db() -> Iterator[Session]:
    """A session per request, closed when the request is done, whatever happened."""
    # Step 2: yield a session and always close it.
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
