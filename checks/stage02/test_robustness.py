"""Stage 02 checks that put the API under pressure: leaked sessions, races, absurd ids and text."""

REQUESTS_BEYOND_THE_POOL = 20  # pool_size 5 + max_overflow 10 = 15 connections at most


def test_sessions_are_closed_after_each_request(app, client, create):
    app.set("app.database:engine.pool._timeout", 2)  # a leaking app fails in seconds instead of waiting 30 s per request
    create()
    for number in range(1, REQUESTS_BEYOND_THE_POOL + 1):
        status = client.get("/users").status_code
        assert status == 200, f"request {number} of {REQUESTS_BEYOND_THE_POOL} answered {status}: connections are not given back"
    checked_out = app.call("app.database:engine.pool.checkedout")
    assert checked_out == 0, f"{checked_out} connections are still checked out after the requests"


def test_concurrent_duplicates_never_500(app):
    for round_ in range(3):  # a few rounds make the race likely to show
        email = f"same{round_}@example.com"
        requests = [{"method": "POST", "url": "/users", "json": {"email": email, "username": f"{name}{round_}"}} for name in ("first", "second")]
        statuses = sorted(response.status_code for response in app.http_many("app.main", requests))
        assert statuses == [201, 400], f"two simultaneous POSTs with one email answered {statuses}, expected [201, 400]"


def test_huge_id_is_not_a_server_error(client):
    for method in ("get", "put", "delete"):
        kwargs = {"json": {"username": "whoever"}} if method == "put" else {}
        status = getattr(client, method)("/users/99999999999", **kwargs).status_code
        assert status in (404, 422), f"{method.upper()} /users/99999999999 answered {status}, expected 404 or 422"


def test_control_characters_are_refused(client, create):
    user = create()
    attempts = {
        "POST /users": lambda: client.post("/users", json={"email": "nul@example.com", "username": "nul\x00byte"}),
        f"PUT /users/{user['id']}": lambda: client.put(f"/users/{user['id']}", json={"username": "nul\x00byte"}),
    }
    for request, send in attempts.items():
        status = send().status_code
        assert status == 422, f"{request} with a NUL character in the username answered {status}, expected 422"
