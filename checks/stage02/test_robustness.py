"""Stage 02 checks that put the API under pressure: leaked sessions, races, absurd ids and text."""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

ROUNDS = 2  # with the collector off, each round leaves up to 4 sessions behind in an app that leaks
LARGEST_ID = 2**31 - 1  # PostgreSQL's integer
RACERS = 2  # enough: the checker's lock makes every look-up come before any write, so one round decides
HOLD = 5.0  # at most this long, the checker holds every write to users back until each racer waits for it
WAITING = "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = 'users'::regclass AND NOT granted"


def test_sessions_are_closed_after_each_request(app, client, answered, seed):
    app.set("app.database:engine.pool._timeout", 2)  # a leaking app fails in seconds instead of waiting 30 s per request
    app.call("gc:disable")  # a session left open goes back only when the collector happens to run: make every leak show
    user = seed()
    # Answers that end in an error (404, 400) must give their connection back too; a read comes
    # last, so one session shared by every request shows too (it keeps its connection after a read).
    errors = [("GET", "/users/4242", None), ("PUT", "/users/4242", {"username": "ghost"}), ("POST", "/users", {"email": user["email"], "username": "ada2"})]
    for number in range(1, ROUNDS + 1):
        for method, url, body in [*errors, ("GET", "/users", None)]:
            response = client.request(method, url, json=body)
            error = str((response.exception or {}).get("message"))
            if "QueuePool limit" in error or "too many connections" in error:
                pytest.fail(f"in round {number} of {ROUNDS}, {method} {url} found no connection left: connections are not given back")
            if url == "/users" and method == "GET" and response.status_code != 200:
                in_get_db = str((response.exception or {}).get("where")).startswith("app/database.py")
                prefix = "" if in_get_db else "needs step 6 (Read users) first: "
                pytest.fail(f"{prefix}GET /users answered {answered(response)}, expected 200")
    checked_out = app.call("app.database:engine.pool.checkedout")
    assert checked_out == 0, f"{checked_out} connections are still checked out after {ROUNDS * 4} requests: the sessions are not closed"


@contextmanager
def workers(app, count):
    """``count`` fresh copies of the app, started side by side: processes of their own, like the
    workers of ``uvicorn --workers N``."""
    copies = [app.another() for _ in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda copy: copy.app("app.main", "start"), copies))  # each lifespan's start-up
        yield copies
    finally:
        for copy in copies:
            copy.close()


def race(copies, database, rows, requests):
    """The answers to ``requests``, one from each copy, all sent at once. Meanwhile the checker
    holds a SHARE lock on users: reads go through, every write waits. It lets go once each
    request waits for it (or has answered), so every look-up comes before any write, the worst
    case of a race."""
    lock = database.connect()
    with ThreadPoolExecutor(len(requests)) as pool:
        try:
            with lock.cursor() as cur:
                cur.execute("LOCK TABLE users IN SHARE MODE")
            futures = [pool.submit(copy.http, "app.main", r["method"], r["url"], json=r["json"]) for copy, r in zip(copies, requests)]
            give_up = time.monotonic() + HOLD
            while time.monotonic() < give_up and rows(WAITING)[0][0] + sum(f.done() for f in futures) < len(requests):
                time.sleep(0.005)
        finally:
            lock.rollback()
        return [future.result() for future in futures]


def verdict(what, answers, expected, answered):
    """``4 simultaneous POSTs ... answered 201, 500, 500, 500, expected ... (the first 500: where: what)``."""
    statuses = sorted(response.status_code for response in answers)
    odd = next((response for response in answers if response.status_code not in expected), None)
    why = f" (the first {odd.status_code}: {answered(odd).partition(' ')[2].strip('()') or 'no reason given'})" if odd else ""
    return f"{RACERS} simultaneous {what} answered {', '.join(map(str, statuses))}, expected one {expected[0]} and the rest 400{why}"


def test_concurrent_duplicates_never_500(app, taken, create, seed, client, answered, database, rows):
    duplicate = client.post("/users", json={"email": taken["email"], "username": "ada2"})
    if duplicate.status_code != 400:
        pytest.fail(f"needs step 5 (Create users) first: a taken email answered {answered(duplicate)}, expected 400")
    bob = create("bob@example.com", "bob")
    renamed = client.put(f"/users/{bob['id']}", json={"username": "bobby"})
    if renamed.status_code != 200:
        pytest.fail(f"needs step 7 (Update users) first: PUT /users/{bob['id']} with a new username answered {answered(renamed)}, expected 200")
    with workers(app, RACERS) as racers:  # the same workers race twice, as a server's would
        posts = [{"method": "POST", "url": "/users", "json": {"email": "same@example.com", "username": f"racer{n}"}} for n in range(RACERS)]
        answers = race(racers, database, rows, posts)
        assert sorted(response.status_code for response in answers) == [201] + [400] * (RACERS - 1), verdict(
            "POSTs with one email", answers, (201, 400), answered
        )
        users = [seed(f"runner{n}@example.com", f"runner{n}") for n in range(RACERS)]
        puts = [{"method": "PUT", "url": f"/users/{user['id']}", "json": {"email": "shared@example.com"}} for user in users]
        answers = race(racers, database, rows, puts)
        assert sorted(response.status_code for response in answers) == [200] + [400] * (RACERS - 1), verdict(
            "PUTs giving different users one email", answers, (200, 400), answered
        )


def test_huge_id_is_refused_with_422(client, answered):
    for method in ("GET", "PUT", "DELETE"):
        body = {"username": "whoever"} if method == "PUT" else None
        for user_id in (99999999999, LARGEST_ID + 1):
            response = client.request(method, f"/users/{user_id}", json=body)
            assert response.status_code == 422, f"{method} /users/{user_id} answered {answered(response)}, expected 422 (beyond PostgreSQL's integer)"
    largest = client.get(f"/users/{LARGEST_ID}")
    assert largest.status_code != 422, f"GET /users/{LARGEST_ID} answered 422: the largest integer id is a valid id"


def test_control_characters_are_refused(client, answered, seed):
    user = seed()
    for name in ("nul\x00byte", "new\nline"):
        for method, url, body in (
            ("POST", "/users", {"email": "ctl@example.com", "username": name}),
            ("PUT", f"/users/{user['id']}", {"username": name}),
        ):
            response = client.request(method, url, json=body)
            assert response.status_code == 422, f"{method} {url} with the username {name!r} answered {answered(response)}, expected 422"
