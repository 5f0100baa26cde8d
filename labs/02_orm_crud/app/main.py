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
    # TODO (step 5): create the tables when the app starts.
    yield


app = FastAPI(title="Users (SQLAlchemy ORM)", lifespan=lifespan)

DB = Annotated[Session, Depends(get_db)]
# TODO (step 9): limit ids to what PostgreSQL's integer can hold.
UserId = int


def find_user(db: Session, user_id: int) -> User:
    user = crud.get_user(db, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return user


@app.get("/ping")
def ping():
    # TODO (step 1): a route without a database.
    raise NotImplementedError("TODO step 1: a route without a database")


@app.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, db: DB):
    # TODO (step 5): create the user; a duplicate email or username is a 400.
    raise NotImplementedError("TODO step 5: create the user; a duplicate email or username is a 400")


@app.get("/users", response_model=list[UserOut])
def list_users(db: DB):
    # TODO (step 6): every user, ordered by id.
    raise NotImplementedError("TODO step 6: every user, ordered by id")


@app.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: UserId, db: DB):
    # TODO (step 6): one user, or 404.
    raise NotImplementedError("TODO step 6: one user, or 404")


@app.put("/users/{user_id}", response_model=UserOut)
def update_user(user_id: UserId, data: UserUpdate, db: DB):
    # TODO (step 7): a partial update; values held by another user are a 400.
    raise NotImplementedError("TODO step 7: a partial update; values held by another user are a 400")


@app.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: UserId, db: DB):
    # TODO (step 8): delete; 204 has no body.
    raise NotImplementedError("TODO step 8: delete; 204 has no body")
