"""Pydantic models: what the API accepts and what it returns."""

from pydantic import BaseModel, ConfigDict, EmailStr, Field  # noqa: F401 - for step 4


class UserCreate(BaseModel):
    # TODO (step 4): validate the email address and the username's length (3 to 50).
    email: str
    username: str


class UserUpdate(BaseModel):
    # TODO (step 4): the same rules, every field optional.
    email: str | None = None
    username: str | None = None


class UserOut(BaseModel):
    # TODO (step 4): let Pydantic read ORM objects (from_attributes).

    id: int
    email: str
    username: str
