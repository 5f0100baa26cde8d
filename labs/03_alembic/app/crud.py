"""Database operations on users, kept out of the routes."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import User
from .schemas import UserCreate, UserUpdate


def create_user(db: Session, data: UserCreate) -> User:
    user = User(email=data.email, username=data.username)
    db.add(user)
    db.commit()
    db.refresh(user)
    return user


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id)))


def get_user(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


def taken_by_other(db: Session, user_id: int, column, value: str) -> bool:
    """Whether another user already has ``value`` in ``column``."""
    return db.scalar(select(User.id).where(column == value, User.id != user_id)) is not None


def update_user(db: Session, user: User, data: UserUpdate) -> User:
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    db.commit()
    db.refresh(user)
    return user


def delete_user(db: Session, user: User) -> None:
    db.delete(user)
    db.commit()
