"""Database operations on users, kept out of the routes."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import User
from .schemas import UserCreate, UserUpdate


def create_user(db: Session, data: UserCreate) -> User:
    # Step 5: add, commit, refresh.
    user = User(email=data.email, username=data.username)
    db.add(user)
    db.commit()
    db.refresh(user)
    return user


def list_users(db: Session) -> list[User]:
    # Step 6: every user, ordered by id.
    return list(db.scalars(select(User).order_by(User.id)))


def get_user(db: Session, user_id: int) -> User | None:
    # Step 6: one user by primary key.
    return db.get(User, user_id)


def taken_by_other(db: Session, user_id: int, column, value: str) -> bool:
    """Whether another user already has ``value`` in ``column``."""
    # Step 7: look for another user holding the value.
    return db.scalar(select(User.id).where(column == value, User.id != user_id)) is not None


def update_user(db: Session, user: User, data: UserUpdate) -> User:
    # Step 7: change only the fields that were sent.
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    db.commit()
    db.refresh(user)
    return user


def delete_user(db: Session, user: User) -> None:
    # Step 8: delete and commit.
    db.delete(user)
    db.commit()
