"""The users API: FastAPI routes over SQLAlchemy sessions."""

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import crud
from .database import Base, engine, get_db
from .models import User
from .schemas import UserCreate, UserOut, UserUpdate


@asynccontextmanager
async def lifespan(app: FastAPI):
    # TODO (step 1): no create_all here any more: Alembic owns the schema.
    Base.metadata.create_all(bind=engine)
    yield


app = FastAPI(title="Users (SQLAlchemy ORM + Alembic)", lifespan=lifespan)

DB = Annotated[Session, Depends(get_db)]
# Ids PostgreSQL's integer can hold (larger ones get 422, not a 500).
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def find_user(db: Session, user_id: int) -> User:
    user = crud.get_user(db, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return user


@app.get("/ping")
def ping():
    return {"status": "ok", "message": "pong"}


@app.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, db: DB):
    try:
        return crud.create_user(db, data)
    except IntegrityError:
        db.rollback()
        raise HTTPException(status_code=400, detail="Email or username already exists") from None


@app.get("/users", response_model=list[UserOut])
def list_users(db: DB):
    return crud.list_users(db)


@app.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: UserId, db: DB):
    return find_user(db, user_id)


@app.put("/users/{user_id}", response_model=UserOut)
def update_user(user_id: UserId, data: UserUpdate, db: DB):
    user = find_user(db, user_id)
    if data.email is not None and crud.taken_by_other(db, user_id, User.email, data.email):
        raise HTTPException(status_code=400, detail="Email already in use")
    if data.username is not None and crud.taken_by_other(db, user_id, User.username, data.username):
        raise HTTPException(status_code=400, detail="Username already in use")
    try:
        return crud.update_user(db, user, data)
    except IntegrityError:  # another request took the value in the meantime
        db.rollback()
        raise HTTPException(status_code=400, detail="Email or username already exists") from None


@app.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: UserId, db: DB):
    crud.delete_user(db, find_user(db, user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
