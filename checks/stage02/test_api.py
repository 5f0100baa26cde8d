"""Stage 02 checks on main.py: the users API over HTTP."""


def test_ping_answers_pong(client):
    response = client.get("/ping")
    assert response.status_code == 200, f"GET /ping answered {response.status_code}, expected 200"
    assert response.json() == {"status": "ok", "message": "pong"}, f"GET /ping answered {response.text[:100]}"


def test_create_user_answers_201_with_the_user(create):
    body = create()
    assert set(body) == {"id", "email", "username"}, f"the answer should have id, email and username; it has {sorted(body)}"
    assert (body["email"], body["username"]) == ("ada@example.com", "ada") and isinstance(body["id"], int)


def test_created_user_is_committed(create, rows):
    create()
    assert rows("SELECT email, username FROM users") == [("ada@example.com", "ada")], "the new user is not in the database: commit the session"


def test_create_user_validates_the_body(client):
    bad_bodies = {
        "an invalid email": {"email": "not-an-email", "username": "valid"},
        "a 2-character username": {"email": "a@example.com", "username": "ab"},
        "a 51-character username": {"email": "a@example.com", "username": "u" * 51},
        "a missing username": {"email": "a@example.com"},
    }
    for what, body in bad_bodies.items():
        status = client.post("/users", json=body).status_code
        assert status == 422, f"POST /users with {what} answered {status}, expected 422"


def test_duplicate_email_or_username_is_400(client, create):
    create()
    for what, body in {
        "a taken email": {"email": "ada@example.com", "username": "other"},
        "a taken username": {"email": "other@example.com", "username": "ada"},
    }.items():
        response = client.post("/users", json=body)
        assert response.status_code == 400, f"POST /users with {what} answered {response.status_code}, expected 400"
        assert response.json() == {"detail": "Email or username already exists"}, f"wrong detail: {response.text[:100]}"
    assert len(client.get("/users").json()) == 1, "a refused duplicate must not be saved"


def test_list_users_ordered_by_id(client, create):
    ids = [create(f"user{n}@example.com", f"user{n}")["id"] for n in range(3)]
    client.put(f"/users/{ids[0]}", json={"username": "renamed"})  # an update moves the row on disk
    response = client.get("/users")
    assert response.status_code == 200, f"GET /users answered {response.status_code}"
    assert [user["id"] for user in response.json()] == ids, "GET /users should list every user ordered by id"


def test_get_user_finds_one_or_404(client, create):
    user = create()
    response = client.get(f"/users/{user['id']}")
    assert response.status_code == 200 and response.json() == user, f"GET /users/{{id}} answered {response.status_code}"
    missing = client.get(f"/users/{user['id'] + 1000}")
    assert missing.status_code == 404, f"GET of a missing user answered {missing.status_code}, expected 404"
    assert missing.json() == {"detail": "User not found"}, f"wrong detail: {missing.text[:100]}"


def test_update_changes_only_the_fields_sent(client, create):
    user = create()
    response = client.put(f"/users/{user['id']}", json={"username": "lovelace"})
    assert response.status_code == 200, f"PUT answered {response.status_code}, expected 200"
    expected = {"id": user["id"], "email": "ada@example.com", "username": "lovelace"}
    assert response.json() == expected, f"after PUT {{'username': 'lovelace'}} the user is {response.json()}"
    assert client.get(f"/users/{user['id']}").json() == expected, "the update was not saved"
    response = client.put(f"/users/{user['id']}", json={"email": "countess@example.com"})
    assert response.json().get("username") == "lovelace", "updating the email changed the username"


def test_update_refuses_values_held_by_another_user(client, create):
    ada = create()
    bob = create("bob@example.com", "bob")
    cases = [
        ({"email": "ada@example.com"}, "Email already in use"),
        ({"username": "ada"}, "Username already in use"),
    ]
    for body, detail in cases:
        response = client.put(f"/users/{bob['id']}", json=body)
        assert response.status_code == 400, f"PUT {body} over another user's value answered {response.status_code}, expected 400"
        assert response.json() == {"detail": detail}, f"wrong detail: {response.text[:100]}"
    own = client.put(f"/users/{ada['id']}", json={"email": "ada@example.com", "username": "ada"})
    assert own.status_code == 200, f"PUT of a user's own current values answered {own.status_code}, expected 200"


def test_update_missing_user_is_404(client):
    response = client.put("/users/4242", json={"username": "ghost"})
    assert response.status_code == 404, f"PUT of a missing user answered {response.status_code}, expected 404"
    assert response.json() == {"detail": "User not found"}, f"wrong detail: {response.text[:100]}"


def test_delete_answers_204_without_a_body(client, create):
    user = create()
    response = client.delete(f"/users/{user['id']}")
    assert response.status_code == 204, f"DELETE answered {response.status_code}, expected 204"
    assert response.content == b"", "a 204 answer must have an empty body"
    assert client.get(f"/users/{user['id']}").status_code == 404, "the user is still there after DELETE"
    again = client.delete(f"/users/{user['id']}")
    assert again.status_code == 404, f"DELETE of a missing user answered {again.status_code}, expected 404"
