"""Stage 02 checks on main.py and schemas.py: the users API over HTTP."""

USER_KEYS = {"id", "email", "username"}


def test_ping_answers_pong(subject, answered):
    """Step 1 alone: the app, without the users table the other checks make first."""
    response = subject.client("app.main", raise_server_exceptions=False).get("/ping")
    assert response.status_code == 200, f"GET /ping answered {answered(response)}, expected 200"
    assert response.json() == {"status": "ok", "message": "pong"}, f"GET /ping answered {response.text[:100]}"


def test_create_user_answers_201_with_the_user(client, answered, rows):
    response = client.post("/users", json={"email": "ada@example.com", "username": "ada"})
    assert response.status_code == 201, f"POST /users answered {answered(response)}, expected 201"
    body = response.json()
    assert set(body) == USER_KEYS, f"the answer should have id, email and username; it has {sorted(body)}"
    assert (body["email"], body["username"]) == ("ada@example.com", "ada") and isinstance(body["id"], int), f"POST /users answered {body}"
    forged = client.post("/users", json={"id": 4242, "email": "bob@example.com", "username": "bob"})
    assert forged.status_code in (201, 422), f"POST /users with an id in the body answered {answered(forged)}, expected 201 (id ignored) or 422"
    assert not rows("SELECT 1 FROM users WHERE id = 4242"), "a client chose the new user's id: UserCreate must not have an id field"


def test_created_user_is_committed(client, answered, rows):
    response = client.post("/users", json={"email": "ada@example.com", "username": "ada"})
    assert 200 <= response.status_code < 300, f"POST /users answered {answered(response)}, expected 201"
    assert rows("SELECT email, username FROM users") == [("ada@example.com", "ada")], "the new user is not in the database: commit the session"


def test_create_user_validates_the_body(client, answered, rows):
    bad_bodies = {
        "an invalid email": {"email": "not-an-email", "username": "valid"},
        "a 2-character username": {"email": "a@example.com", "username": "ab"},
        "a 51-character username": {"email": "a@example.com", "username": "u" * 51},
        "a missing username": {"email": "a@example.com"},
    }
    for what, body in bad_bodies.items():
        response = client.post("/users", json=body)
        assert response.status_code == 422, f"POST /users with {what} answered {answered(response)}, expected 422"
    assert not rows("SELECT 1 FROM users"), "a refused body must not be saved"


def test_update_validates_the_body(client, answered, seed, rows):
    user = seed()
    bad_bodies = {
        "an invalid email": {"email": "not-an-email"},
        "an empty username": {"username": ""},
        "a 2-character username": {"username": "ab"},
        "a 51-character username": {"username": "u" * 51},
        "a null email": {"email": None},
        "a null username": {"username": None},
    }
    for what, body in bad_bodies.items():
        response = client.put(f"/users/{user['id']}", json=body)
        assert response.status_code == 422, f"PUT /users/{user['id']} with {what} answered {answered(response)}, expected 422"
    assert rows("SELECT email, username FROM users") == [("ada@example.com", "ada")], "a refused update must not be saved"


def test_duplicate_email_or_username_is_400(client, answered, taken, rows):
    for what, body in {
        "a taken email": {"email": "ada@example.com", "username": "other"},
        "a taken username": {"email": "other@example.com", "username": "ada"},
    }.items():
        response = client.post("/users", json=body)
        assert response.status_code == 400, f"POST /users with {what} answered {answered(response)}, expected 400"
        assert response.json() == {"detail": "Email or username already exists"}, f"wrong detail: {response.text[:100]}"
    assert rows("SELECT count(*) FROM users") == [(1,)], "a refused duplicate must not be saved"


def test_list_users_ordered_by_id(client, answered, seed, rows):
    # Neither email nor username order matches id order; the update moves the first row on disk;
    # more than 100 users, a common default page size.
    first, *_ = [seed(email, username) for email, username in (("zoe@example.com", "mia"), ("amy@example.com", "zed"), ("kim@example.com", "abe"))]
    rows("INSERT INTO users (email, username) SELECT 'user' || n || '@example.com', 'user' || n FROM generate_series(1, 100) n RETURNING id")
    rows("UPDATE users SET username = 'max' WHERE id = %s RETURNING id", (first["id"],))
    users = [{"id": id_, "email": email, "username": username} for id_, email, username in rows("SELECT id, email, username FROM users ORDER BY id")]
    response = client.get("/users")
    assert response.status_code == 200, f"GET /users answered {answered(response)}, expected 200"
    listed = response.json()
    assert isinstance(listed, list) and all(isinstance(user, dict) and set(user) == USER_KEYS for user in listed), (
        f"GET /users should answer a list of users with id, email and username: {response.text[:150]}"
    )
    assert len(listed) == len(users), f"GET /users answered {len(listed)} of the {len(users)} users: list every user, with no limit"
    assert [user["id"] for user in listed] == [user["id"] for user in users], "GET /users should list every user ordered by id"
    assert listed == users, "GET /users answers users whose email or username differ from the database's"


def test_get_user_finds_one_or_404(client, answered, seed):
    user = seed()
    response = client.get(f"/users/{user['id']}")
    assert response.status_code == 200, f"GET /users/{user['id']} answered {answered(response)}, expected 200"
    assert response.json() == user, f"GET /users/{user['id']} answered {response.text[:150]}, expected {user}"
    missing = client.get(f"/users/{user['id'] + 1000}")
    assert missing.status_code == 404, f"GET of a missing user answered {answered(missing)}, expected 404"
    assert missing.json() == {"detail": "User not found"}, f"wrong detail: {missing.text[:100]}"


def test_update_changes_only_the_fields_sent(client, answered, seed, rows):
    user = seed()
    saved = "SELECT id, email, username FROM users"
    for body, expected in (
        ({"username": "lovelace"}, {"id": user["id"], "email": "ada@example.com", "username": "lovelace"}),
        ({"email": "countess@example.com"}, {"id": user["id"], "email": "countess@example.com", "username": "lovelace"}),
    ):
        response = client.put(f"/users/{user['id']}", json=body)
        assert response.status_code == 200, f"PUT {body} answered {answered(response)}, expected 200"
        assert response.json() == expected, f"after PUT {body} the answer is {response.text[:150]}, expected {expected}"
        assert rows(saved) == [tuple(expected.values())], f"after PUT {body} the database holds {rows(saved)}: commit the changes"


def test_update_refuses_values_held_by_another_user(client, answered, seed, rows):
    ada = seed()
    bob = seed("bob@example.com", "bob")
    cases = [
        ({"email": "ada@example.com"}, "Email already in use"),
        ({"username": "ada"}, "Username already in use"),
    ]
    for body, detail in cases:
        response = client.put(f"/users/{bob['id']}", json=body)
        assert response.status_code == 400, f"PUT {body} over another user's value answered {answered(response)}, expected 400"
        assert response.json() == {"detail": detail}, f"wrong detail: {response.text[:100]}"
    own = client.put(f"/users/{ada['id']}", json={"email": "ada@example.com", "username": "ada"})
    assert own.status_code == 200, f"PUT of a user's own current values answered {answered(own)}, expected 200"
    assert sorted(rows("SELECT email, username FROM users")) == [("ada@example.com", "ada"), ("bob@example.com", "bob")], (
        "a refused update changed the database"
    )


def test_update_missing_user_is_404(client, answered, seed):
    seed()
    response = client.put("/users/4242", json={"username": "ghost"})
    assert response.status_code == 404, f"PUT of a missing user answered {answered(response)}, expected 404"
    assert response.json() == {"detail": "User not found"}, f"wrong detail: {response.text[:100]}"


def test_delete_answers_204_without_a_body(client, answered, seed, rows):
    user = seed()
    response = client.delete(f"/users/{user['id']}")
    assert response.status_code == 204, f"DELETE answered {answered(response)}, expected 204"
    assert response.content == b"", f"a 204 answer must have an empty body, not {response.text[:60]!r}"
    assert not rows("SELECT 1 FROM users"), "the user is still in the database after DELETE: commit the session"
    again = client.delete(f"/users/{user['id']}")
    assert again.status_code == 404, f"DELETE of a missing user answered {answered(again)}, expected 404"
