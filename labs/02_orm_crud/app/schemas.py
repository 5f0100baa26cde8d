"""Pydantic models: what the API accepts and what it returns."""

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator  # noqa: F401 - for step 4


# TODO (step 4): a pattern that refuses control characters in usernames.


class UserCreate(BaseModel):
    # TODO (step 4): validate the email address and the username (3 to 50 printable characters).
    email: str
    username: str


class UserUpdate(BaseModel):
    # TODO (step 4): the same rules, every field optional: left out, but never null.
    email: str | None = None
    username: str | None = None


class UserOut(BaseModel):
    # TODO (step 4): let Pydantic read ORM objects (from_attributes).

    id: int
    email: str
    username: str
