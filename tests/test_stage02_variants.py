"""Stage 02: other correct styles pass every check; typical mistakes fail the check meant for them."""

import pytest

from checks.registry import find_stage

ALL_CHECKS = {check.id for check in find_stage("02").checks}

LEGACY_MODELS = '''
from sqlalchemy import Column, Integer, String, UniqueConstraint

from .database import Base


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"), UniqueConstraint("username"))

    id = Column(Integer, primary_key=True)
    email = Column(String(255), nullable=False)
    username = Column(String(50), nullable=False)
'''

QUERY_STYLE_MAIN = '''
from fastapi import Depends, FastAPI, HTTPException, Path, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .database import Base, engine, get_db
from .models import User
from .schemas import UserCreate, UserOut, UserUpdate

Base.metadata.create_all(bind=engine)
app = FastAPI()


@app.get("/ping")
def ping():
    return {"status": "ok", "message": "pong"}


def load_user(db, user_id):
    user = db.query(User).filter(User.id == user_id).first()
    if not user:
        raise HTTPException(404, "User not found")
    return user


@app.post("/users", response_model=UserOut, status_code=201)
def create_user(data: UserCreate, db: Session = Depends(get_db)):
    if db.query(User).filter((User.email == data.email) | (User.username == data.username)).first():
        raise HTTPException(400, "Email or username already exists")
    user = User(**data.model_dump())
    db.add(user)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise HTTPException(400, "Email or username already exists")
    db.refresh(user)
    return user


@app.get("/users", response_model=list[UserOut])
def list_users(db: Session = Depends(get_db)):
    return db.query(User).order_by(User.id).all()


@app.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: int = Path(le=2147483647), db: Session = Depends(get_db)):
    return load_user(db, user_id)


@app.put("/users/{user_id}", response_model=UserOut)
def update_user(data: UserUpdate, user_id: int = Path(le=2147483647), db: Session = Depends(get_db)):
    user = load_user(db, user_id)
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes and db.query(User).filter(User.email == changes["email"], User.id != user_id).first():
        raise HTTPException(400, "Email already in use")
    if "username" in changes and db.query(User).filter(User.username == changes["username"], User.id != user_id).first():
        raise HTTPException(400, "Username already in use")
    for key, value in changes.items():
        setattr(user, key, value)
    db.commit()
    db.refresh(user)
    return user


@app.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: int = Path(le=2147483647), db: Session = Depends(get_db)):
    db.delete(load_user(db, user_id))
    db.commit()
    return Response(status_code=204)
'''

ALTERNATIVES = {
    "legacy Column models with UniqueConstraint": {"files": {"app/models.py": LEGACY_MODELS}},
    "db.query routes without crud.py, duplicates checked first": {
        "files": {"app/main.py": QUERY_STYLE_MAIN},
        "delete": ["app/crud.py"],
    },
    "both: legacy models and query-style routes": {
        "files": {"app/models.py": LEGACY_MODELS, "app/main.py": QUERY_STYLE_MAIN},
        "delete": ["app/crud.py"],
    },
    "session as a context manager in get_db": {
        "replace": {"app/database.py": [("    db = SessionLocal()\n    try:\n        yield db\n    finally:\n        db.close()", "    with SessionLocal() as db:\n        yield db")]}
    },
}

MISTAKES = {
    "create without commit": (
        {"app/crud.py": [("    db.add(user)\n    db.commit()", "    db.add(user)\n    db.flush()")]},
        "created_user_is_committed",
    ),
    "POST answers 200": (
        {"app/main.py": [('@app.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)', '@app.post("/users", response_model=UserOut)')]},
        "create_user_answers_201_with_the_user",
    ),
    "no unique constraints": (
        {"app/models.py": [("String(255), unique=True", "String(255)"), ("String(50), unique=True", "String(50)")]},
        "email_and_username_are_unique",
    ),
    "email column too short": (
        {"app/models.py": [("String(255)", "String(100)")]},
        "users_table_has_the_right_columns",
    ),
    "update wipes the fields not sent": (
        {"app/crud.py": [("data.model_dump(exclude_unset=True)", "data.model_dump()")]},
        "update_changes_only_the_fields_sent",
    ),
    "delete answers with a body": (
        {"app/main.py": [('@app.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)', '@app.delete("/users/{user_id}")'),
                         ("    return Response(status_code=status.HTTP_204_NO_CONTENT)", '    return {"deleted": True}')]},
        "delete_answers_204_without_a_body",
    ),
    "list not ordered": (
        {"app/crud.py": [("select(User).order_by(User.id)", "select(User)")]},
        "list_users_ordered_by_id",
    ),
    "session never closed": (
        {"app/database.py": [("    db = SessionLocal()\n    try:\n        yield db\n    finally:\n        db.close()", "    yield SessionLocal()")]},
        "sessions_are_closed_after_each_request",
    ),
    "missing user answers 500, not 404": (
        {"app/main.py": [('    if user is None:\n        raise HTTPException(status_code=404, detail="User not found")\n', "")]},
        "get_user_finds_one_or_404",
    ),
    "username length not validated": (
        {"app/schemas.py": [("    username: str = Field(min_length=3, max_length=50, pattern=PRINTABLE)", "    username: str")]},
        "create_user_validates_the_body",
    ),
    "control characters reach the database": (
        {"app/schemas.py": [("    username: str = Field(min_length=3, max_length=50, pattern=PRINTABLE)", "    username: str = Field(min_length=3, max_length=50)")]},
        "control_characters_are_refused",
    ),
    "update does not look for other users' values": (
        {"app/main.py": [("    if data.email is not None and crud.taken_by_other", "    if False and crud.taken_by_other"),
                         ("    if data.username is not None and crud.taken_by_other", "    if False and crud.taken_by_other")]},
        "update_refuses_values_held_by_another_user",
    ),
    "no pre-ping": (
        {"app/database.py": [("    pool_pre_ping=True,\n", "")]},
        "database_module_configures_pool_and_sessions",
    ),
    "tables never created at start-up": (
        {"app/main.py": [("    Base.metadata.create_all(bind=engine)\n", "")]},
        "users_table_is_created_at_startup",
    ),
}


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_other_correct_styles_pass_every_check(name, run_checks, make_target):
    results = run_checks(make_target("02", **ALTERNATIVES[name]), "02")
    failed = {check: result.reason for check, result in results.items() if result.status != "passed"}
    assert set(results) == ALL_CHECKS
    assert failed == {}


@pytest.mark.parametrize("name", MISTAKES)
def test_typical_mistakes_fail_their_check(name, run_checks, make_target):
    replace, intended = MISTAKES[name]
    results = run_checks(make_target("02", replace=replace), "02")
    assert results[intended].status == "failed", f"{name!r} should fail {intended}"
    assert results["ping_answers_pong"].status == "passed", "an unrelated check failed too: the variant is broken"
