"""Database operations on users, kept out of the routes."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import User
from .schemas import UserCreate, UserUpdate


def create_user(db: Session, data: UserCreate) -> User:
    # TODO (step 5): add, commit, refresh.
    raise NotImplementedError("TODO step 5: add, commit, refresh")


def list_users(db: Session) -> list[User]:
    # TODO (step 6): every user, ordered by id.
    raise NotImplementedError("TODO step 6: every user, ordered by id")


def get_user(db: Session, user_id: int) -> User | None:
    # TODO (step 6): one user by primary key.
    raise NotImplementedError("TODO step 6: one user by primary key")


def taken_by_other(db: Session, user_id: int, column, value: str) -> bool:
    """Whether another user already has ``value`` in ``column``."""
    # TODO (step 7): look for another user holding the value.
    raise NotImplementedError("TODO step 7: look for another user holding the value")


def update_user(db: Session, user: User, data: UserUpdate) -> User:
    # TODO (step 7): change only the fields that were sent.
    raise NotImplementedError("TODO step 7: change only the fields that were sent")


def delete_user(db: Session, user: User) -> None:
    # TODO (step 8): delete and commit.
    raise NotImplementedError("TODO step 8: delete and commit")
