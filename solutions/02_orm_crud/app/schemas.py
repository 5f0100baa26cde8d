"""Pydantic models: what the API accepts and what it returns."""

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


# Step 4: PostgreSQL text cannot hold the NUL character, and no username needs control characters.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class UserCreate(BaseModel):
    # Step 4: a valid email address and a username of 3 to 50 printable characters.
    email: EmailStr
    username: str = Field(min_length=3, max_length=50, pattern=PRINTABLE)


class UserUpdate(BaseModel):
    # Step 4: the same rules, every field optional: left out, but never null.
    email: EmailStr | None = None
    username: str | None = Field(default=None, min_length=3, max_length=50, pattern=PRINTABLE)

    @field_validator("email", "username")
    @classmethod
    def not_null(cls, value):
        if value is None:  # sent as null (a default is not validated): the columns are NOT NULL
            raise ValueError("may be left out, but not null")
        return value


class UserOut(BaseModel):
    # Step 4: built from ORM objects.
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    username: str
