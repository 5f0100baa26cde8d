"""Stage 01 checks on main.py: the posts API over HTTP.

The app starts with its own lifespan and makes the posts table; the checks put the rows they
need in that table themselves and read what a request changed with a connection of their own.
A check fails with "needs step N first" when a function of posts.py behind its route does not
work yet (see ``needs`` in conftest.py). An exception in a route is the 500 a real server would
answer; the reason quotes the exception.
"""

import json

import pytest

from checks.engine.subject import AppClient, Response, StudentRaised

START = ("connect", "create_table")  # what the app's start-up relies on


class Client(AppClient):
    """The app's client; a 405 answer notes whether the same request with a trailing slash is
    served (a route declared as ``/posts/`` for this method, beside ``/posts`` for another)."""

    def request(self, method: str, url: str, **body) -> Response:
        response = super().request(method, url, **body)
        if response.status_code == 405 and not url.endswith("/"):
            slashed = super().request(method, url + "/", **body)
            if slashed.status_code not in (404, 405):
                response.slashed_route = f"{method} {url}/"
        return response


def _client(subject) -> Client:
    return Client(subject, "main", raise_server_exceptions=False)


@pytest.fixture
def client(subject, start_app):
    """The target's app (main.py), started, with the posts table its start-up made."""
    try:
        start_app()
    except (StudentRaised, AssertionError) as exc:
        pytest.fail(f"needs step 7 first ({str(exc).splitlines()[0]})", pytrace=False)
    return _client(subject)


# Each check starts on a database whose sessions were ended: a connection opened when the module
# was imported (in the process every check's copy comes from) is closed by then.
LOST_CONNECTION = "a connection made when main.py or posts.py is imported does not outlive it here: open connections per request in get_conn, or in the app's lifespan"


def _said(response) -> str:
    """The status and what came with it: the body, the redirect, or the exception behind a 500."""
    if response.exception:
        where, message = response.exception.get("where"), response.exception.get("message", "").split(' File "')[0]
        advice = f"; {LOST_CONNECTION}" if "connection already closed" in message else ""
        return f"{response.status_code} ({where + ': ' if where else ''}{message[:200]}{advice})"
    if 300 <= response.status_code < 400:
        return f"{response.status_code}, a redirect to {response.headers.get('location')}: declare the path without a trailing slash"
    if slashed := getattr(response, "slashed_route", None):
        return f"{response.status_code} {response.text[:100]} (but {slashed} is served: declare the path without a trailing slash)"
    return f"{response.status_code} {response.text[:150]}".strip()


def _json(response):
    try:
        return response.json()
    except json.JSONDecodeError:
        pytest.fail(f"the answer is not JSON: {_said(response)}", pytrace=False)


def test_api_creates_posts(subject, start_app, needs, fetch_all):
    start_app()
    client = _client(subject)
    with needs(*START, "create_post"):
        response = client.post("/posts", json={"title": "Hello", "content": "World"})
        assert response.status_code == 201, f"POST /posts answered {_said(response)}, expected 201"
        body = _json(response)
        assert body.get("title") == "Hello" and body.get("content") == "World", "the answer should be the new post"
        assert isinstance(body.get("id"), int) and body.get("published") is True, "the answer should include id and published"
        assert fetch_all("SELECT title FROM posts WHERE id = %s", (body["id"],)) == [("Hello",)], "the new post was not saved"
        draft = client.post("/posts", json={"title": "Draft", "content": "later", "published": False})
        assert draft.status_code == 201 and _json(draft).get("published") is False, "a post sent with published false should be saved as a draft"


def test_api_rejects_invalid_bodies(client, needs, insert):
    with needs(*START, "create_post"):
        valid = client.post("/posts", json={"title": "Valid", "content": "body"})
        if not 200 <= valid.status_code < 300:
            pytest.fail(f"needs step 8 first (a valid POST /posts answered {_said(valid)}; its validation is judged once it works)", pytrace=False)
    for body in ({"content": "no title"}, {"title": "", "content": "empty title"}, {"title": "no content"}, {"title": "t", "content": "c", "published": "maybe"}):
        response = client.post("/posts", json=body)
        assert response.status_code == 422, f"POST /posts with {body} answered {_said(response)}, expected 422"
    (post_id,) = insert("Before")
    with needs(*START, "update_post"):
        valid = client.put(f"/posts/{post_id}", json={"title": "After", "content": "text", "published": True})
        if not 200 <= valid.status_code < 300:
            pytest.fail(f"needs step 8 first (a valid PUT /posts/{{id}} answered {_said(valid)}; its validation is judged once it works)", pytrace=False)
    for body in ({"content": "no title"}, {"title": "", "content": "empty title"}):
        response = client.put(f"/posts/{post_id}", json=body)
        assert response.status_code == 422, f"PUT /posts/{{id}} with {body} answered {_said(response)}, expected 422"


def test_api_lists_and_gets_posts(client, needs, insert):
    ids = insert("one", "two")
    with needs(*START, "list_posts", "get_post"):
        listed = client.get("/posts")
        assert listed.status_code == 200, f"GET /posts answered {_said(listed)}, expected 200"
        assert sorted(post.get("id") for post in _json(listed)) == ids, "GET /posts should list every post"
        one = client.get(f"/posts/{ids[1]}")
        assert one.status_code == 200 and _json(one).get("title") == "two", f"GET /posts/{{id}} answered {_said(one)}, expected 200 with the post"
        missing = client.get(f"/posts/{ids[1] + 1000}")
        assert missing.status_code == 404, f"GET of a missing post answered {_said(missing)}, expected 404"


def test_api_updates_posts(client, needs, insert, fetch_all):
    (post_id,) = insert("Original")
    change = {"title": "Changed", "content": "Text", "published": False}
    with needs(*START, "update_post"):
        response = client.put(f"/posts/{post_id}", json=change)
        assert response.status_code == 200, f"PUT answered {_said(response)}, expected 200"
        assert {key: _json(response).get(key) for key in change} == change, "PUT should answer with the updated post"
        assert fetch_all("SELECT title FROM posts WHERE id = %s", (post_id,)) == [("Changed",)], "the update was not saved"
        missing = client.put(f"/posts/{post_id + 1000}", json=change)
        assert missing.status_code == 404, f"PUT of a missing post answered {_said(missing)}, expected 404"


def test_api_deletes_posts(client, needs, insert, fetch_all):
    ids = insert("Doomed", "Stays")
    with needs(*START, "delete_post"):
        response = client.delete(f"/posts/{ids[0]}")
        assert response.status_code == 204, f"DELETE answered {_said(response)}, expected 204"
        assert response.content == b"", "a 204 answer must have an empty body"
        assert fetch_all("SELECT id FROM posts") == [(ids[1],)], "the post is still there after DELETE"
        again = client.delete(f"/posts/{ids[0]}")
        assert again.status_code == 404, f"DELETE of a missing post answered {_said(again)}, expected 404"


TRACKER = "checks.subject.connections"  # runs in the copy (the subject side: a sandbox shows it): the connections psycopg2 opened there


def test_api_closes_its_connections(subject, client, needs, insert):
    subject.call(f"{TRACKER}:track")  # after the start-up: a pool it filled is not a request's
    (post_id,) = insert("Kept")
    # A request that works, then one whose route raises (404): its status is another check's.
    for request, url, expected in (("GET /posts/{id}", f"/posts/{post_id}", 200), ("GET of a missing post", f"/posts/{post_id + 1000}", None)):
        mark = subject.call(f"{TRACKER}:opened")
        with needs(*START, "get_post"):
            response = client.get(url)
            assert expected is None or response.status_code == expected, f"{request} answered {_said(response)}, expected {expected}"
        left = subject.call(f"{TRACKER}:left_open", mark)
        assert left == 0, (
            f"{request} ({response.status_code}) left {left} connection{'s' if left > 1 else ''} it opened still open after its answer: "
            "get_conn should close its connection in finally, after the yield"
        )
