"""Pydantic models: what the API accepts and what it returns."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field


# PostgreSQL text cannot hold the NUL character, and no username needs control characters.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class UserCreate(BaseModel):
    email: EmailStr
    username: str = Field(min_length=3, max_length=50, pattern=PRINTABLE)


class UserUpdate(BaseModel):
    email: EmailStr | None = None
    username: str | None = Field(default=None, min_length=3, max_length=50, pattern=PRINTABLE)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    username: str
    # Step 6: expose the new columns.
    created_at: datetime
    is_active: bool
